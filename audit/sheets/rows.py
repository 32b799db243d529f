"""Reading a sheet's rows, safely: CSV in any common encoding, XLSX streamed part by part with every size
bounded, so a crafted or damaged file is one clear problem, never a hang or a crash."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from collections.abc import Iterator
from pathlib import Path

from audit.core.safe_text import from_csv_cell
from audit.errors import SheetError

MAX_PROBLEMS_KEPT = 20


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


class _Problems:
    def __init__(self) -> None:
        self.kept: list[str] = []
        self.total = 0

    def add(self, message: str) -> None:
        self.total += 1
        if len(self.kept) < MAX_PROBLEMS_KEPT:
            self.kept.append(message)

    def raise_if_any(self, source: str) -> None:
        if self.total:
            raise SheetError(source, self.kept, self.total)


# ------------------------------------------------------------------ reading cells
def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, _dt.datetime):
        return value.date().isoformat() if value.time() == _dt.time() else value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


def read_rows(path: Path) -> Iterator[list[str]]:
    """The sheet's rows as lists of text, header first. Raises SheetError for unreadable files."""
    suffix = path.suffix.lower()
    if path.exists() and not path.is_file():  # a folder, a FIFO or a device: reading would fail or wait for ever
        raise SheetError(str(path), ["not a regular file: give a saved .csv or .xlsx file"])
    if suffix == ".xlsx":
        yield from _read_xlsx(path)
    elif suffix in (".csv", ".txt"):
        yield from _read_csv(path)
    else:
        raise SheetError(str(path), [f"unsupported file type {suffix or '(none)'!r}: use .csv or .xlsx"])


# The longest value one cell of a sheet may hold (CSV or XLSX): far beyond any real note or N/A
# reason (exports write them whole, and the csv module's default of 131,072 characters would refuse
# our own), yet a crafted value cannot make import build gigabytes of text.
CELL_CHARACTERS = 1_000_000  # the same as store.MAX_TEXT: whatever is stored exports and imports back
CSV_FIELD_LIMIT = CELL_CHARACTERS
# The largest CSV read (it is read whole, then decoded): a 40,000-case export is about 30 MB.
CSV_BYTES = 256 << 20

# a valid UTF-8 sequence of two to four bytes: a file holding one was written as UTF-8
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


def _read_csv(path: Path) -> Iterator[list[str]]:
    """The CSV's rows, each cell as the text we exported (see ``from_csv_cell``)."""
    try:
        size = path.stat().st_size
        if size > CSV_BYTES:
            raise UnreadableSheet(
                str(path), f"the file is {size:,} bytes, more than {CSV_BYTES:,}: this is not a case sheet (none of it was read)"
            )
        data = path.read_bytes()
    except OSError as error:
        raise SheetError(str(path), [f"cannot read the file: {error.strerror}"]) from None
    if not data.strip():
        raise SheetError(str(path), ["the file is empty: expected a header row starting with case_ref"])
    if b"\x00" in data:
        raise SheetError(str(path), ["the file holds NUL bytes: it is not a text CSV (an XLSX saved as .csv?)"])
    text = _decode_csv(path, data)
    csv.field_size_limit(CSV_FIELD_LIMIT)
    rows_read = 0
    delimiter = csv_delimiter(text)
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            rows_read += 1
            # a cell beginning with a quote may carry export's mark: looked for once per row (a NUL cannot
            # be in the text, so "\0'" is found only where a cell begins with a quote)
            yield [from_csv_cell(cell) for cell in row] if "\0'" in "\0" + "\0".join(row) else row
    except csv.Error as error:
        if "field limit" in str(error):  # the csv module's own words for a field beyond field_size_limit
            raise UnreadableSheet(
                str(path),
                f"row {rows_read + 1}: a value longer than {CELL_CHARACTERS:,} characters, "
                "which no case sheet holds (nothing after it was read)",
            ) from None
        raise SheetError(str(path), [f"not a readable CSV: {error}"]) from None


CSV_DELIMITERS = ",;\t"  # comma; semicolon (Excel's "CSV" where the decimal mark is a comma); tab


def csv_delimiter(text: str) -> str:
    """The CSV's delimiter, found by csv.Sniffer in its header line and restricted to comma, semicolon
    or tab (a header of one column, or one the sniffer cannot read, is comma-separated)."""
    header_line = text.split("\n", 1)[0][:65_536]
    try:
        return csv.Sniffer().sniff(header_line, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _decode_csv(path: Path, data: bytes) -> str:
    """UTF-8 (with or without BOM), or Excel's Windows-1252 "CSV". A file that holds UTF-8
    characters is UTF-8: a stray byte in it is refused naming its row, never taken as a sign
    that the whole file is Windows-1252 (which would turn "Équipe" into "Ã‰quipe" silently)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if not _UTF8_MULTIBYTE.search(data):
            return data.decode("cp1252", errors="replace")  # no UTF-8 character anywhere: Windows-1252
        before = data[: error.start].decode("utf-8-sig", errors="replace")
        raise SheetError(
            str(path),
            [
                f"{_place_of(before)}: byte 0x{data[error.start]:02X} is not UTF-8, though the rest of the "
                "file is; save the sheet again as CSV UTF-8"
            ],
        ) from None


def _place_of(text_before: str) -> str:
    """'row 3, column B': where the character after ``text_before`` is in the sheet."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        rows = list(csv.reader(io.StringIO(text_before + "x", newline="")))  # "x": the row it is in counts
    except csv.Error:
        return f"line {text_before.count(chr(10)) + 1}"
    return f"row {len(rows)}, column {column_letter(len(rows[-1]) - 1)}" if rows else "row 1"


# Limits for reading an XLSX: a workbook is a zip of XML, and a crafted one (a single value in
# cell XFD1048576, a dimension claiming the whole grid, a million empty rows, a part that
# inflates to gigabytes) must not make import build the whole grid in memory.
XLSX_ROWS = 1_048_576  # Excel's rows in a sheet: more cannot be a real sheet
XLSX_COLUMNS = 1_000  # far more than a case sheet's columns (case_ref, 12 attributes, ~80 questions)
XLSX_CELLS_IN_A_ROW = 16_384  # Excel's columns (A to XFD): a row holding more cells than this is crafted
XLSX_PARTS_IN_A_CELL = 10_000  # XML elements inside one cell (a value, a formula, runs of formatted text)
XLSX_SHEET_BYTES = 256 << 20  # a sheet's XML, inflated (our 40,000-case export is about 90 MB)
XLSX_OTHER_PART_BYTES = 16 << 20  # any other part: shared strings (a 40,000-case sheet's: a few MB), styles, ...
XLSX_DEPTH = 64  # XML elements inside one another: a sheet's cells are five deep, formatted text a few more
XLSX_ELEMENTS_IN_A_SMALL_PART = 500_000  # workbook, styles, relationships ...: openpyxl builds each whole in memory
XLSX_SHARED_STRINGS = 2_000_000  # distinct texts in a workbook: far more than 40,000 cases' notes and reasons
# XML read without a single element starting or ending: one cell's text (at most CELL_CHARACTERS,
# written as entities at worst a few bytes each) or one tag with its attributes. More is one
# crafted value the parser would otherwise build whole in memory (a 250 MB <t> in a 245 KB file).
XLSX_BYTES_IN_ONE_PIECE = 16 << 20
# how much XML the parser is handed at a time (iterparse asks for 16 KB): expat scans a token it has
# not finished again on every feed, so a 16 MB attribute fed 16 KB at a time took 35 s (quadratic)
XLSX_READ_BYTES = 256 << 10


def _read_xlsx(path: Path) -> Iterator[list[str]]:
    """The first sheet's rows as text, read as they stream from the file: one row (and one cell)
    of XML in memory at a time, never the whole grid, whatever the sheet's dimension claims.
    Trailing empty cells are ignored; a value beyond column 1,000 or row 1,048,576 is refused.
    Formulas and merged header cells are reported by row and column once the sheet is read."""
    source = str(path)
    reader, sheet_part = _open_xlsx(path)
    try:
        yield from _xlsx_rows(source, reader, sheet_part)
    finally:
        reader.archive.close()


class UnreadableSheet(SheetError):
    """A file that is not a sheet we can read at all (damaged, or beyond the limits): one line
    naming the file, instead of a list of problems by row and column."""

    def __init__(self, source: str, problem: str):
        super().__init__(source, [problem])
        self.args = (f"{source}: {problem}; nothing was imported",)

    def __str__(self) -> str:
        return self.args[0]


class _Malformed(ValueError):
    """A fault of the workbook found while reading it, already said in plain words."""


def _damaged(source: str, error: BaseException, where: str = "", part: str = "one of its XML parts") -> UnreadableSheet:
    """One message naming the file and what is wrong in plain words: the parser's own exception
    (KeyError: 'rIdNope', IndexError: cannot fit 'int' ...) means nothing to the person importing."""
    return UnreadableSheet(source, f"not a readable XLSX workbook{where}: {_plain_words(error, part)}")


def _plain_words(error: BaseException, part: str) -> str:
    """What a parser's exception says is wrong with the package, without Python's names for it."""
    import zipfile
    import zlib
    from xml.etree.ElementTree import ParseError

    if isinstance(error, _Malformed):
        return str(error)
    if isinstance(error, ParseError):
        line = getattr(error, "position", (0, 0))[0]
        return f"{part} is not well-formed XML at line {line:,}" if line else f"{part} is not well-formed XML"
    if isinstance(error, zipfile.BadZipFile):
        return "it is not a complete zip package (an XLSX file is one); the file is damaged or cut short"
    if isinstance(error, (zlib.error, EOFError)):
        return "a part of the package is damaged or cut short"
    if isinstance(error, KeyError):
        missing = re.fullmatch(r"There is no item named '(.{1,200})' in the archive", str(error.args[0]) if error.args else "")
        if missing:  # zipfile's words for a part the package lacks
            return f"the part {missing[1]} is missing from the file"
        return "the workbook's sheet list names a part that is not in the file"
    return f"{part} holds something a workbook cannot (the file is damaged or was not written by a spreadsheet)"


class _SharedStrings(list):
    """The workbook's shared strings, refusing an index that is not in the table: a plain list
    would take -1 as the last string and a huge number as an IndexError about index-sized ints."""

    def __getitem__(self, index):
        if isinstance(index, int) and not 0 <= index < len(self):
            raise _Malformed(f"a cell names shared string {index}, which is not in the workbook's table of {len(self):,} strings")
        return list.__getitem__(self, index)


class _MeteredPart:
    """A part's stream that refuses to hand the XML parser more than XLSX_BYTES_IN_ONE_PIECE bytes
    between two elements: the parser builds a text or a tag whole before it reports it, so one
    crafted 250 MB value would be in memory (or an attribute parsed for minutes) before any limit
    on it could be checked. ``where()`` names the place for the message."""

    def __init__(self, handle, source: str, where):
        self.handle, self.source, self.where = handle, source, where
        self.unreported = 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(max(size, XLSX_READ_BYTES) if size >= 0 else size)
        self.unreported += len(data)
        if self.unreported > XLSX_BYTES_IN_ONE_PIECE:
            raise UnreadableSheet(
                self.source,
                f"{self.where()}: one value or tag of more than {XLSX_BYTES_IN_ONE_PIECE:,} "
                f"bytes (a cell holds at most {CELL_CHARACTERS:,} characters); this is not a "
                "case sheet",
            )
        return data

    def reported(self) -> None:
        """The parser reported an element: the bytes read so far were no single piece."""
        self.unreported = 0


def _too_deep(source: str, where: str) -> UnreadableSheet:
    return UnreadableSheet(
        source, f"{where}: XML elements nested more than {XLSX_DEPTH} deep, which no spreadsheet writes; this is not a case sheet"
    )


def _open_xlsx(path: Path):
    """openpyxl's reader with the workbook's shared strings and styles (for dates) read, and the
    part name of the first worksheet; its rows are left to ``_xlsx_rows``. Every part is checked
    first not to inflate beyond the limits. A damaged package can make openpyxl raise almost
    anything (BadZipFile, KeyError, ParseError, IndexError, TypeError ...): each becomes one
    message naming the file."""
    import warnings
    import zipfile

    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet

    try:
        with zipfile.ZipFile(path) as package:
            for info in package.infolist():
                limit = XLSX_SHEET_BYTES if info.filename.startswith("xl/worksheets/") else XLSX_OTHER_PART_BYTES
                if info.file_size > limit:
                    raise UnreadableSheet(
                        str(path),
                        f"the part {info.filename} inflates to {info.file_size:,} bytes, more than "
                        f"{limit:,}: this is not a case sheet",
                    )
            for info in package.infolist():
                if _built_whole_by_openpyxl(info.filename):
                    _check_small_part(str(path), package, info.filename)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about extensions it does not read
            reader = ExcelReader(path, read_only=True, data_only=False)
            try:
                reader.read_manifest()
                reader.shared_strings = _shared_strings(str(path), reader)
                reader.read_workbook()
                apply_stylesheet(reader.archive, reader.wb)
                sheets = [
                    rel.target
                    for _, rel in reader.parser.find_sheets()
                    if rel.target in reader.valid_files and "chartsheet" not in rel.Type
                ]
            except BaseException:
                reader.archive.close()
                raise
    except SheetError:
        raise
    except OSError as error:
        raise UnreadableSheet(str(path), f"cannot read the file: {error.strerror or error}") from None
    except Exception as error:  # noqa: BLE001 - any failure of the parser on a damaged package
        raise _damaged(str(path), error) from None
    if not sheets:
        reader.archive.close()
        raise UnreadableSheet(str(path), "the workbook has no sheet: expected a header row starting with case_ref")
    return reader, sheets[0]


def _built_whole_by_openpyxl(name: str) -> bool:
    """An XML part openpyxl parses into a tree at once (worksheets and shared strings are streamed here)."""
    return name.endswith((".xml", ".rels")) and not name.startswith("xl/worksheets/") and name != "xl/sharedStrings.xml"


def _check_small_part(source: str, package, name: str) -> None:
    """Refuse a part openpyxl would build whole before it does: elements nested more than XLSX_DEPTH
    deep, or more than XLSX_ELEMENTS_IN_A_SMALL_PART of them (16 MB of nested elements in styles.xml
    took 700 MB and 8 s). Read as a stream with expat, keeping nothing but two counts."""
    from xml.parsers import expat

    depth = elements = 0

    def start(_tag, _attributes):
        nonlocal depth, elements
        depth += 1
        elements += 1
        if depth > XLSX_DEPTH:
            raise _too_deep(source, name)
        if elements > XLSX_ELEMENTS_IN_A_SMALL_PART:
            raise UnreadableSheet(
                source,
                f"{name}: more than {XLSX_ELEMENTS_IN_A_SMALL_PART:,} XML elements, far more than "
                "a spreadsheet writes there; this is not a case sheet",
            )

    def end(_tag):
        nonlocal depth
        depth -= 1

    parser = expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler = start, end
    try:
        with package.open(name) as handle:
            while chunk := handle.read(1 << 16):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except expat.ExpatError as error:
        raise UnreadableSheet(
            source, f"not a readable XLSX workbook: {name.rsplit('/', 1)[-1]} is not well-formed XML at line {error.lineno:,}"
        ) from None


def _xlsx_rows(source: str, reader, sheet_part: str) -> Iterator[list[str]]:
    from openpyxl.utils import range_boundaries
    from openpyxl.worksheet._reader import WorkSheetParser

    problems = _Problems()
    merged: list[str] = []
    next_row = 1
    try:
        handle = reader.archive.open(sheet_part)
        parser = WorkSheetParser(
            handle,
            reader.shared_strings,
            data_only=False,
            epoch=reader.wb.epoch,
            date_formats=reader.wb._date_formats,
            timedelta_formats=reader.wb._timedelta_formats,
        )
        rows = _sheet_rows(source, handle, parser, merged)
    except Exception as error:  # noqa: BLE001 - a damaged sheet part
        raise _damaged(source, error) from None
    with handle:
        while True:
            try:
                number, cells = next(rows)
            except StopIteration:
                break
            except SheetError:
                raise
            except Exception as error:  # noqa: BLE001 - damaged XML or a truncated part, found while reading
                raise _damaged(source, error, f" (after row {next_row - 1})", sheet_part.rsplit("/", 1)[-1]) from None
            if number > XLSX_ROWS:  # checked before filling in the rows left out: r="99999999999" cannot make us try
                raise UnreadableSheet(
                    source, f"row {number:,}: more than {XLSX_ROWS:,} rows, which no spreadsheet has; this is not a case sheet"
                )
            while next_row < number:  # rows the file leaves out are empty
                yield []
                next_row += 1
            yield _xlsx_row_text(number, cells, problems)
            next_row = max(next_row, number) + 1
    if next_row == 1:
        raise SheetError(source, ["the workbook's first sheet is empty: expected a header row starting with case_ref"])
    for ref in merged:
        try:
            _, min_row, _, _ = range_boundaries(ref)
        except (TypeError, ValueError):
            continue
        if min_row == 1:
            problems.add(f"row 1: merged header cells {ref}; give every column its own header")
    problems.raise_if_any(source)


_SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _CELL, _MERGE = (f"{_SHEET_NS}{tag}" for tag in ("row", "c", "mergeCell"))
_STRING, _TEXT, _RUN = (f"{_SHEET_NS}{tag}" for tag in ("si", "t", "r"))
_VALUE, _FORMULA, _INLINE = (f"{_SHEET_NS}{tag}" for tag in ("v", "f", "is"))


def _shared_strings(source: str, reader) -> list[str]:
    """The workbook's shared strings, as openpyxl's read_string_table gives them (plain text and
    the text of formatted runs; phonetic runs left out), each string's XML dropped once read:
    openpyxl's own reader builds an object per string and keeps every parsed element. A table of
    more than XLSX_SHARED_STRINGS strings, a string longer than CELL_CHARACTERS or elements nested
    more than XLSX_DEPTH deep is refused as soon as it is seen."""
    from xml.etree.ElementTree import iterparse

    from openpyxl.xml.constants import SHARED_STRINGS

    part = reader.package.find(SHARED_STRINGS)
    if part is None:
        return _SharedStrings()
    strings = _SharedStrings()
    table = None
    depth = 0
    name = part.PartName.rsplit("/", 1)[-1]
    where = lambda: f"{name}, string {len(strings) + 1:,}"  # noqa: E731
    with reader.archive.open(part.PartName[1:]) as handle:
        metered = _MeteredPart(handle, source, where)
        try:
            for event, element in iterparse(metered, events=("start", "end")):
                metered.reported()
                if event == "start":
                    depth += 1
                    if depth > XLSX_DEPTH:
                        raise _too_deep(source, where())
                    table = element if table is None else table
                    continue
                depth -= 1
                if element.tag == _STRING:
                    _add_shared_string(source, strings, element, where)
                    assert table is not None  # the root element, set by the first start event
                    del table[:]  # read: dropped with any later <si> begun in the same chunk (linear, unlike remove)
        except SheetError:
            raise
        except Exception as error:  # noqa: BLE001 - damaged XML in the table
            raise _damaged(source, error, part=name) from None
    return strings


def _add_shared_string(source: str, strings: list[str], element, where) -> None:
    """One <si>'s text onto the table, within the limits on the table and on a cell's text."""
    if len(strings) >= XLSX_SHARED_STRINGS:
        raise UnreadableSheet(
            source,
            f"{where()}: more than {XLSX_SHARED_STRINGS:,} shared strings, far more than a "
            "case sheet holds; this is not a case sheet",
        )
    texts = [element.findtext(_TEXT) or ""] + [run.findtext(_TEXT) or "" for run in element.iterfind(_RUN)]
    text = "".join(texts).replace("x005F_", "")
    if len(text) > CELL_CHARACTERS:
        raise UnreadableSheet(
            source,
            f"{where()}: a value of {len(text):,} characters, more than the "
            f"{CELL_CHARACTERS:,} a cell may hold; this is not a case sheet",
        )
    strings.append(text)


def _sheet_rows(source: str, handle, parser, merged: list[str]) -> Iterator[tuple[int, list[dict]]]:
    """(row number, cells) for each <row> of a worksheet part, each cell parsed by openpyxl's own
    ``parse_cell`` (shared strings, dates, formulas). Every element is dropped from the tree as
    soon as it has been read (a cell's parts once the cell is read), so memory stays flat however
    many rows, cells or other elements the file holds. The references of merged ranges are added
    to ``merged``."""
    from xml.etree.ElementTree import iterparse

    from openpyxl.utils.cell import coordinate_to_tuple

    open_elements: list = []  # the element being read and its ancestors
    cell_depth = 0  # how deep the cell being read is (0: not in a cell)
    cells: dict[int, dict] = {}  # by column: a row holds at most XLSX_COLUMNS cells with values
    cells_read = parts_in_cell = 0
    cell_ref = None  # the r attribute of the cell being read
    where = lambda: _place_in_sheet(parser, cell_ref, bool(cell_depth))  # noqa: E731
    metered = _MeteredPart(handle, source, where)
    for event, element in iterparse(metered, events=("start", "end")):
        metered.unreported = 0  # metered.reported(), written out: a big sheet has millions of elements
        tag = element.tag
        if event == "start":
            open_elements.append(element)
            if len(open_elements) > XLSX_DEPTH:
                raise _too_deep(source, where())
            if cell_depth:
                parts_in_cell += 1
                if parts_in_cell > XLSX_PARTS_IN_A_CELL:
                    raise UnreadableSheet(
                        source,
                        f"row {parser.row_counter}: a cell made of more than {XLSX_PARTS_IN_A_CELL:,} "
                        "XML elements; this is not a case sheet",
                    )
            elif tag == _CELL:
                cell_depth, parts_in_cell, cell_ref = len(open_elements), 0, element.get("r")
                cells_read += 1
                if cells_read > XLSX_CELLS_IN_A_ROW:
                    place = f"row {parser.row_counter}" if parser.row_counter else "outside any row"
                    raise UnreadableSheet(
                        source,
                        f"{place}: more than {XLSX_CELLS_IN_A_ROW:,} cells, more "
                        "than a spreadsheet row holds; this is not a case sheet",
                    )
            elif tag == _ROW:
                cells, cells_read = {}, 0
                parser.row_counter = _row_number(element.get("r"), parser.row_counter)
                parser.col_counter = 0
            continue
        open_elements.pop()
        if cell_depth and len(open_elements) >= cell_depth:
            continue  # a part of the cell being read: parse_cell reads it with the cell
        if tag == _CELL:
            cell_depth = 0
            _keep_cell(source, parser, element, cells, coordinate_to_tuple)
        elif tag == _ROW:
            yield parser.row_counter, list(cells.values())
            cells = {}
        elif tag == _MERGE:
            merged.append(element.get("ref"))
        if open_elements:
            # read: dropped, with any later siblings begun in the same chunk (their events hold them);
            # remove(element) searched the siblings one by one, quadratic in a chunk of many <x/>
            del open_elements[-1][:]


def _place_in_sheet(parser, cell_ref: str | None, in_cell: bool) -> str:
    """'row 2, column B' (or 'row 2', or 'outside any row'): where the sheet is being read."""
    match = re.fullmatch(r"([A-Z]{1,3})(\d{1,7})", cell_ref or "")
    if in_cell and match:
        return f"row {match[2]}, column {match[1]}"
    if not parser.row_counter:
        return "outside any row"
    if in_cell:  # the cell after the last one read
        return f"row {parser.row_counter}, column {column_letter(parser.col_counter)}"
    return f"row {parser.row_counter}"


def _keep_cell(source: str, parser, element, cells: dict[int, dict], coordinate_to_tuple) -> None:
    """Parse one <c> into ``cells`` (by column) if it holds a value; refuse a value beyond the
    last column a case sheet can have. ``coordinate_to_tuple``: openpyxl's ("B2" -> (2, 2))."""
    if len(element) == 0 and element.get("r") is None:  # <c/>: empty, only moves the column on
        parser.col_counter += 1
        return
    cell = _parse_text_cell(parser, element, coordinate_to_tuple) or parser.parse_cell(element)
    if cell["value"] is None or cell["value"] == "":
        return  # empty cells, however many, are not kept
    if isinstance(cell["value"], str) and len(cell["value"]) > CELL_CHARACTERS:
        raise UnreadableSheet(
            source,
            f"row {cell['row']}, column {column_letter(cell['column'] - 1)}: a value of "
            f"{len(cell['value']):,} characters, more than the {CELL_CHARACTERS:,} a cell may hold; "
            "this is not a case sheet",
        )
    if cell["column"] > XLSX_COLUMNS:
        raise UnreadableSheet(
            source,
            f"row {cell['row']}, column {column_letter(cell['column'] - 1)}: a value beyond "
            f"column {column_letter(XLSX_COLUMNS - 1)} ({XLSX_COLUMNS:,} columns); this is not a case sheet",
        )
    cells[cell["column"]] = cell


def _parse_text_cell(parser, element, coordinate_to_tuple) -> dict | None:
    """A cell holding plain text (a shared string, or inline text in one <t>, as spreadsheets and
    openpyxl write a case sheet's cells) parsed as openpyxl's ``parse_cell`` would, without building
    its objects (a third of the time of reading a big sheet); None for any other cell (a formula, a
    number, formatted text ...), which ``parse_cell`` reads. The caller checks every limit on the
    cell as for any other."""
    data_type = element.get("t")
    if data_type not in ("s", "inlineStr") or element.find(_FORMULA) is not None:
        return None
    if data_type == "s":
        value = element.findtext(_VALUE) or None
        if value is not None:
            value = parser.shared_strings[int(value)]
    else:
        text = element.find(_INLINE)
        if text is None or len(text) != 1 or text[0].tag != _TEXT or len(text[0]):
            return None
        value = text[0].text or ""
    coordinate = element.get("r")
    if coordinate:
        row, column = coordinate_to_tuple(coordinate)
        parser.col_counter = column
    else:
        parser.col_counter += 1
        row, column = parser.row_counter, parser.col_counter
    style_id = element.get("s", 0)
    return {"row": row, "column": column, "value": value, "data_type": "s", "style_id": int(style_id) if style_id else 0}


def _row_number(text: str | None, previous: int) -> int:
    """A <row>'s number: its r attribute, else the one after the previous row."""
    return previous + 1 if text is None else int(text)


def _xlsx_row_text(number: int, cells: list[dict], problems: _Problems) -> list[str]:
    """One row's cells as text, in column order, up to its last non-empty cell."""
    values: dict[int, str] = {}
    for cell in cells:
        text = _cell_text(cell["value"])
        if not text:
            continue
        column = cell["column"]  # at most XLSX_COLUMNS (checked as the row was read)
        if cell["data_type"] == "f":
            problems.add(f"row {number}, column {column_letter(column - 1)}: a formula ({text}); paste values instead")
        values[column] = text
    if not values:
        return []
    row = [""] * max(values)
    for column, text in values.items():
        row[column - 1] = text
    return row
