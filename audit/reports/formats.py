"""Every output format in one registry: the reports (HTML, XLSX, Markdown) and the summary's formats.

The command line's choices, the TUI's "save report" list, file suffixes and renderers all come from here.
A renderer is named by module and function and imported only when used, so listing the formats costs
nothing (the command line builds its parser from these names on every run; a NamedTuple, not attrs, for
the same reason: nothing here is imported that the parser does not need).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from audit.errors import InvalidValue


class OutputFormat(NamedTuple):
    name: str  # what --format takes
    label: str  # what a person is shown when choosing
    renderer: str  # "module:function"
    suffixes: tuple[str, ...] = ()  # file name endings; the first is used for new files

    @property
    def suffix(self) -> str:
        return self.suffixes[0] if self.suffixes else ""

    def render_function(self) -> Callable[..., Any]:
        module, _, function = self.renderer.partition(":")
        return getattr(importlib.import_module(module), function)


REPORT_FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat(
            name="html",
            label="HTML web page (print it to PDF from a browser)",
            suffixes=(".html", ".htm"),
            renderer="audit.reports.html:render_html_bytes",
        ),
        OutputFormat(name="xlsx", label="Excel workbook", suffixes=(".xlsx",), renderer="audit.reports.xlsx:render_xlsx"),
        OutputFormat(
            name="markdown",
            label="Markdown text",
            suffixes=(".md", ".markdown"),
            renderer="audit.reports.markdown:render_markdown_bytes",
        ),
    )
}

SUMMARY_FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat(name="table", label="plain-text table", renderer="audit.reports.summary_formats:render_table"),
        OutputFormat(
            name="markdown", label="Markdown", suffixes=(".md",), renderer="audit.reports.summary_formats:render_markdown"
        ),
        OutputFormat(name="csv", label="CSV", suffixes=(".csv",), renderer="audit.reports.summary_formats:render_csv"),
        OutputFormat(name="json", label="JSON", suffixes=(".json",), renderer="audit.reports.summary_formats:render_json"),
    )
}


def report_format(name: str) -> OutputFormat:
    try:
        return REPORT_FORMATS[name]
    except KeyError:
        raise InvalidValue(f"{name!r} is not a report format; use one of: {', '.join(REPORT_FORMATS)}") from None


def report_format_from_path(path: Path) -> str:
    """The report format a file name asks for ('' when its suffix names none)."""
    suffix = path.suffix.lower()
    for f in REPORT_FORMATS.values():
        if suffix in f.suffixes:
            return f.name
    return ""


def render_report(report: Any, name: str, progress: Callable[[int, int], None] | None = None) -> bytes:
    """The report's bytes in one format (``progress`` is called as rows are written, where a format supports it)."""
    fmt = report_format(name)
    if fmt.name == "xlsx":
        return fmt.render_function()(report, progress)
    return fmt.render_function()(report)


def render_summary(summary: Any, name: str) -> str:
    return SUMMARY_FORMATS[name].render_function()(summary)
