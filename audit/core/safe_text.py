"""One escaping rule per output format for text people typed.

Round and unit names, notes, not-applicable reasons, domain-1 evidence, team and
practitioner names all come from people (and from other copies of the database
through merge). Every writer takes such text through the function for its format
here, so none of them can smuggle something out:

- ``for_xlsx``: what an XLSX cell can hold; the writers also store it as a string
  cell, so text beginning with ``=`` never becomes a live formula.
- ``for_csv_cell`` / ``from_csv_cell``: text a spreadsheet would start a formula with
  gets a leading single quote (OWASP's advice), and ``import`` takes it off again.
- ``for_markdown``: Markdown and HTML markup shown as text, the value kept on one line.
- ``for_html``: HTML's own escaping.
- ``for_terminal``: control characters (escape sequences, carriage returns) and
  direction overrides shown as visible escapes, never sent to the terminal raw.

Plain Python, no Textual: the command line, the reports and the TUI can all use it.
"""

from __future__ import annotations

import re

# ------------------------------------------------------------------ XLSX
# characters XML cannot hold at all (so no XLSX cell can): C0 controls but tab, newline, return
_ILLEGAL_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# the longest text an Excel cell holds; a longer one makes Excel "repair" the file
SPREADSHEET_CELL_CHARACTERS = 32_767


def for_xlsx(text: str) -> str:
    """``text`` as an XLSX cell can hold it: each character XML cannot hold shown as U+FFFD,
    and a text too long for a cell cut short with an ellipsis. Writers must also store it as
    a string cell (never let a library guess from a leading ``=``)."""
    if len(text) > SPREADSHEET_CELL_CHARACTERS:
        text = text[: SPREADSHEET_CELL_CHARACTERS - 1] + "…"
    return _ILLEGAL_IN_XML.sub("\ufffd", text)


# text an XLSX cell stores but reading it back changes: XML turns every line end (a carriage
# return) into a line feed, and Excel's escape for "_" (x005F_) is taken out as strings are read
_CHANGED_WHEN_XLSX_IS_READ = ("\r", "x005F_")


def fits_xlsx(text: str) -> bool:
    """True when an XLSX cell holds ``text`` exactly (so it survives export then import)."""
    return not any(part in text for part in _CHANGED_WHEN_XLSX_IS_READ) and for_xlsx(text) == text


# ------------------------------------------------------------------ CSV
# what Excel, LibreOffice and Google Sheets start a formula (or a DDE call) with
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_QUOTE = "'"


def _starts_a_formula_after_quotes(text: str) -> bool:
    """True for text that is any number of single quotes (none included) followed by a formula start."""
    return text.lstrip(CSV_QUOTE).startswith(FORMULA_STARTS)


def for_csv_cell(value):
    """A CSV cell a spreadsheet will not run: text that would start a formula gets a single quote
    in front. Text that already is quotes followed by a formula start gets one more, so
    ``from_csv_cell`` can always tell ours from the user's and gives the exact text back.
    Numbers and other non-text values are left as they are."""
    if isinstance(value, str) and _starts_a_formula_after_quotes(value):
        return CSV_QUOTE + value
    return value


def from_csv_cell(text: str) -> str:
    """The text ``for_csv_cell`` was given: its one added quote taken off again."""
    if text.startswith(CSV_QUOTE) and _starts_a_formula_after_quotes(text):
        return text[1:]
    return text


# ------------------------------------------------------------------ terminal
# control characters, and the invisible characters that reorder or break a line on screen
_UNSAFE_ON_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# the same but C0 controls, which JSON text holds only as its own layout (and escapes in strings)
_UNSAFE_IN_JSON_TEXT = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(character: str) -> str:
    code = ord(character)
    return _NAMED_ESCAPES.get(character) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def for_terminal(text) -> str:
    """``text`` safe to print: every control character shown as an escape (ESC as the four
    characters ``\\x1b``, a newline as ``\\n``), so stored text can neither move the cursor,
    erase lines, nor start a new line of its own."""
    return _UNSAFE_ON_TERMINAL.sub(lambda m: _visible(m.group()), str(text))


def lines_for_terminal(text: str) -> str:
    """A message of several lines safe to print: each line through ``for_terminal``, the line
    breaks kept (error messages listing problems row by row)."""
    return "\n".join(for_terminal(line) for line in str(text).split("\n"))


def json_for_terminal(text: str) -> str:
    """JSON text with C1 controls and direction overrides written as \\u escapes: the same
    JSON value, safe on a terminal (the JSON encoder already escapes C0 controls)."""
    return _UNSAFE_IN_JSON_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# ------------------------------------------------------------------ Markdown
_LINE_BREAKS_AND_TABS = re.compile(r"\r\n|[\t\n\r\x0b\x0c\x85\u2028\u2029]")
# characters that start emphasis, code, links, tables or strike-through anywhere in a line
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]|~])")
# at the start of a line: headings, quotes, list items, setext underlines
_MARKDOWN_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)](?=\s|$))")


def for_markdown(text) -> str:
    """``text`` as plain words in Markdown: HTML tags and entities shown as written, Markdown's
    markup characters escaped, and any line break (or tab) shown as a space, so the value stays on the
    line it is put in (it cannot forge a heading, a table row or a "Score" line)."""
    text = _LINE_BREAKS_AND_TABS.sub(" ", str(text)).strip()
    text = for_terminal(text)  # other control characters shown, not kept
    text = _MARKDOWN_INLINE.sub(r"\\\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # tags and entities shown as typed
    return _MARKDOWN_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match) -> str:
    """'# x' -> '\\# x', '1. x' -> '1\\. x': the marker's last character escaped."""
    lead, marker = match.groups()
    return lead + marker[:-1] + "\\" + marker[-1]


# ------------------------------------------------------------------ HTML
# controls a report's text never needs (a tab or newline is kept: HTML shows it as a space)
_UNSAFE_IN_HTML = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def for_html(text) -> str:
    """``text`` as HTML text or an attribute value: ``& < > " '`` escaped, and a control character or
    direction override shown as an escape (``\\x1b``), so a saved page neither reorders what it shows nor
    carries a terminal sequence to whoever prints the file."""
    import html  # here: the terminal's commands (summary) never escape HTML

    return html.escape(_UNSAFE_IN_HTML.sub(lambda m: _visible(m.group()), str(text)), quote=True)


# ------------------------------------------------------------------ the TUI
# Textual widgets are given stored text as plain text, never as markup: Static and Label
# widgets that show it are made with ``markup=False`` (or given rich ``Text``), DataTable
# cells are rich ``Text`` (a ``str`` cell is Rich markup), notifications are sent with
# ``markup=False``, and every stored value passes ``for_terminal`` first. Escaping markup
# instead is not enough: ``rich.markup.escape`` and ``textual.markup.escape`` leave Textual
# tags such as ``[$accent]``, ``[ b]`` and ``[B]`` live.

# every ASCII punctuation character: each may be backslash-escaped in CommonMark
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def for_tui_markdown(text) -> str:
    """``text`` as plain words inside Markdown the TUI renders (Textual's Markdown widget parses
    GitHub-flavoured Markdown with bare-URL linking): on one line, control characters shown as
    escapes, and every ASCII punctuation character backslash-escaped, so no emphasis, table
    cell, heading, HTML, entity or link (not even a bare ``https://`` address, which needs an
    unescaped ``:`` and ``.`` to be linked) can come from it."""
    text = _LINE_BREAKS_AND_TABS.sub(" ", str(text)).strip()
    return _ASCII_PUNCTUATION.sub(r"\\\1", for_terminal(text))


# control characters as the Unicode "control pictures" (ESC as U+241B), one character for one
_CONTROL_PICTURES = {**{code: chr(0x2400 + code) for code in range(0x20)}, 0x7F: "\u2421"}


def for_input_line(text: str) -> str:
    """``text`` as an editable line draws it: each control character or direction override shown as
    ONE visible character (ESC as ␛, others as U+FFFD), so the line keeps its length and the cursor
    stays on the character it is on, while the value edited is still exactly the stored text."""
    return _UNSAFE_ON_TERMINAL.sub(lambda m: _CONTROL_PICTURES.get(ord(m.group()), "\ufffd"), text)


def has_visible_text(text: str | None) -> bool:
    """Whether ``text`` shows anything: a reason made only of spaces, zero-width or other invisible
    characters (format and control characters, separators) says nothing and counts as no reason."""
    import unicodedata

    return any(unicodedata.category(c)[0] not in "CZ" for c in text or "")
