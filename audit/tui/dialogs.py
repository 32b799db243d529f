"""Small typed modal dialogs: each returns its value, or None when cancelled."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, OptionList, Select, Static

from audit.core.attributes import ATTRIBUTES, InvalidAttribute, check_case_ref
from audit.core.safe_text import for_input_line, for_terminal, lines_for_terminal
from audit.reports.formats import REPORT_FORMATS


class PlainInput(Input):
    """An Input whose value may be stored text (a note, a name, evidence being edited): Input draws
    its value raw, so control characters are drawn as one visible symbol each (ESC as ␛), never
    sent to the terminal. The value itself is unchanged: saving without editing keeps it exactly."""

    @property
    def _value(self) -> Text:
        text = super()._value
        shown = for_input_line(text.plain)
        if shown != text.plain:
            text = text.copy()
            text.plain = shown  # same length: the highlighting and the cursor stay where they were
        return text


def Plain(text: str = "", **kwargs) -> Static:
    """A Static for text that may quote stored text: never markup, control characters shown as escapes."""
    return Static(lines_for_terminal(text), markup=False, **kwargs)


class TextDialog(ModalScreen[str | None]):
    """Ask for one line of text. Enter saves; Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(
        self, title: str, *, value: str = "", placeholder: str = "", required: bool = True, suggestions: list[str] | None = None
    ):
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.required = required
        self.suggestions = suggestions or []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(for_terminal(self.title_text), classes="dialog-title", markup=False)
            yield PlainInput(value=self.value, placeholder=self.placeholder, id="text")
            if self.suggestions:
                yield Label("Used before (Tab, then arrows and Enter to pick):", classes="hint")
                yield OptionList(*(for_terminal(s) for s in self.suggestions), id="suggestions", markup=False)
            yield Plain("", id="error", classes="error")
            yield Label("Enter to save, Escape to cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#text", Input).focus()

    @on(Input.Submitted, "#text")
    def submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.query_one("#error", Static).update("This cannot be blank.")
            return
        self.dismiss(text)

    @on(OptionList.OptionSelected, "#suggestions")
    def pick(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.suggestions[event.option_index])  # the reason as stored, not as shown

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question: y or the Yes button is True; n, Escape or No is False."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(for_terminal(self.question), classes="dialog-title", id="question", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="primary")
                yield Button("No (n)", id="no")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


MAX_AUDITOR_NAME = 80


def check_auditor_name(text: str) -> str:
    """A name for the audit trail: one line, not blank, trimmed. Raises ValueError saying what is wrong."""
    name = text.strip()
    if not name:
        raise ValueError("Type your name: every change you make is recorded under it.")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError("A name is one line of ordinary characters.")
    if len(name) > MAX_AUDITOR_NAME:
        raise ValueError(f"A name is at most {MAX_AUDITOR_NAME} characters.")
    return name


class AuditorDialog(ModalScreen[str]):
    """Who is auditing? Asked before any screen can write; a name offered must still be confirmed (Enter)."""

    def __init__(self, offered: str = ""):
        super().__init__()
        self.offered = offered

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Who is auditing?", classes="dialog-title")
            yield Label("Every answer, note and rating you give is recorded under this name.", classes="hint")
            yield PlainInput(value=self.offered, placeholder="Your name, e.g. A. Patel (SPO)", id="auditor")
            yield Plain("", id="error", classes="error")
            yield Label("Enter to start", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#auditor", Input).focus()

    @on(Input.Submitted, "#auditor")
    def submit(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(check_auditor_name(event.value))
        except ValueError as error:
            self.query_one("#error", Static).update(for_terminal(str(error)))


class GuidanceDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="guidance.close")]

    def __init__(self, markdown: str):
        super().__init__()
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide"):
            yield Markdown(self.markdown)
            yield Label("Escape to close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


class NewRoundDialog(ModalScreen[dict | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="newround.cancel")]

    def __init__(self, frameworks: list[tuple[str, str]], default: str | None = None):
        super().__init__()
        self.frameworks = frameworks
        values = [value for _, value in frameworks]
        self.default = default if default in values else values[-1]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("New audit round", classes="dialog-title")
            yield Input(placeholder="Round name, e.g. Spring 2026 dip sample", id="name")
            yield Input(placeholder="Unit as reports print it, e.g. Newham PDU", id="unit")
            yield Select(self.frameworks, value=self.default, allow_blank=False, id="framework")
            yield Plain("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Create", id="create", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def create(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        unit = self.query_one("#unit", Input).value.strip()
        if not name or not unit:
            self.query_one("#error", Static).update("A round needs a name and a unit.")
            return
        framework_id, _, version = str(self.query_one("#framework", Select).value).partition("@")
        self.dismiss({"name": name, "unit": unit, "framework_id": framework_id, "version": version})

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class AddCaseDialog(ModalScreen[dict | None]):
    """A case reference (checked against the CRN format) and its attributes: one line per field, each
    with its label beside it (a label stays while you type), fitting an 80 x 24 terminal."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="addcase.cancel")]

    def compose(self) -> ComposeResult:
        # the form scrolls if the terminal is smaller still, but is never itself a stop for Tab
        with VerticalScroll(classes="dialog wide form", can_focus=False):
            yield Label("Add a case (reference only, never a name)", classes="dialog-title")
            with Horizontal(classes="field"):
                yield Label("Case reference", classes="field-label")
                yield Input(placeholder="e.g. X123456", id="case_ref", compact=True)
            yield Plain("", id="case_ref-error", classes="error field-error")
            for attribute in ATTRIBUTES:
                with Horizontal(classes="field"):
                    yield Label(attribute.label, classes="field-label")
                    if attribute.options:
                        yield Select([(o, o) for o in attribute.options], prompt="-", id=attribute.column, compact=True)
                    else:
                        yield Input(
                            placeholder="YYYY-MM-DD" if attribute.column == "start_date" else "",
                            id=attribute.column,
                            compact=True,
                        )
                yield Plain("", id=f"{attribute.column}-error", classes="error field-error")
            with Horizontal(classes="buttons"):
                yield Button("Add", id="add", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
                yield Label("  Enter adds, Escape cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#case_ref", Input).focus()

    def show_error(self, field: str, message: str) -> None:
        """A field's error on the line under it; the line takes no room while there is none."""
        error = self.query_one(f"#{field}-error", Static)
        error.update(lines_for_terminal(message))
        error.display = bool(message)

    @on(Input.Changed, "#case_ref")
    def check_ref(self, event: Input.Changed) -> None:
        message = ""
        if event.value.strip():
            try:
                check_case_ref(event.value)
            except InvalidAttribute as error:
                message = str(error)
        self.show_error("case_ref", message)

    @on(Button.Pressed, "#add")
    @on(Input.Submitted)
    def add(self) -> None:
        ok = True
        result: dict = {}
        try:
            result["case_ref"] = check_case_ref(self.query_one("#case_ref", Input).value)
        except InvalidAttribute as error:
            self.show_error("case_ref", str(error))
            ok = False
        attributes = {}
        for attribute in ATTRIBUTES:
            widget = self.query_one(f"#{attribute.column}")
            if isinstance(widget, Input):
                raw = widget.value
            else:
                assert isinstance(widget, Select)  # the form has an Input or a Select for each attribute
                raw = "" if widget.value is Select.NULL else str(widget.value)
            self.show_error(attribute.column, "")
            if raw.strip():
                try:
                    attributes[attribute.column] = attribute.parse(raw)
                except InvalidAttribute as error:
                    self.show_error(attribute.column, str(error))
                    ok = False
        if ok:
            result["attributes"] = attributes
            self.dismiss(result)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ReportFormatDialog(ModalScreen[str | None]):
    """Choose the report's format: h HTML, x Excel, m Markdown (or pick from the list)."""

    FORMATS = tuple((f.name, f.label) for f in REPORT_FORMATS.values())
    BINDINGS = [
        Binding("h", "choose('html')", "HTML", id="report.html"),
        Binding("x", "choose('xlsx')", "Excel", id="report.xlsx"),
        Binding("m", "choose('markdown')", "Markdown", id="report.markdown"),
        Binding("escape", "choose('')", "Cancel", id="report.cancel"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Save the report as", classes="dialog-title")
            yield OptionList(*(label for _, label in self.FORMATS), id="formats")
            yield Label("h HTML, x Excel, m Markdown; Escape cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#formats", OptionList).focus()

    @on(OptionList.OptionSelected, "#formats")
    def pick(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.FORMATS[event.option_index][0])

    def action_choose(self, fmt: str) -> None:
        self.dismiss(fmt or None)


class BreakdownDialog(ModalScreen[str | None]):
    """Choose a breakdown with one key (its letter), or with the arrows and Enter; Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="breakdown.cancel")]
    KEYS = "acdefghijklmnopqrstuvwxyz"  # b is left out: pressing b again is not taken as a choice

    def __init__(self, choices: list[tuple[str, str]], current: str | None = None):
        super().__init__()
        self.choices = choices[: len(self.KEYS)]  # (label, key)
        self.current = current
        self.by_letter = {letter: key for letter, (_, key) in zip(self.KEYS, self.choices, strict=False)}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Break the key questions down by", classes="dialog-title")
            yield OptionList(
                *(f"{letter}  {label}" for letter, (label, _) in zip(self.KEYS, self.choices, strict=False)),
                id="breakdowns",
                markup=False,
            )
            yield Label("Press a letter (or arrows and Enter); Escape cancels", classes="hint")

    def on_mount(self) -> None:
        options = self.query_one("#breakdowns", OptionList)
        options.focus()
        keys = [key for _, key in self.choices]
        if self.current in keys:
            options.highlighted = keys.index(self.current)

    def on_key(self, event) -> None:
        key = self.by_letter.get(event.character or "")
        if key is not None:
            event.stop()
            self.dismiss(key)

    @on(OptionList.OptionSelected, "#breakdowns")
    def pick(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index][1])

    def action_cancel(self) -> None:
        self.dismiss(None)
