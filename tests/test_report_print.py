"""Reports that print and read well: A4 pages with headings kept with their tables, breakdowns as an
appendix, flags stated once and largest first, prompt lines as sentences, typed and print-ready XLSX,
and a warning when --compare crosses units."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest

from tests.test_report import BROWSER_FLAGS, chromium, read_html

ROUND, OTHER = "Newham 2022", "Lewisham and Bromley 2022"
A4_POINTS = (595, 842)  # 210 x 297 mm
MAX_PAGES_WITHOUT_APPENDIX = 12


def print_to_pdf(html: Path, tmp_path: Path) -> bytes:
    """The page printed by headless Chromium, as a browser's 'Save as PDF' would (no header or footer)."""
    browser = chromium()
    if browser is None:
        if os.environ.get("CASEAUDIT_REQUIRE_BROWSER"):
            pytest.fail("headless Chromium is required here (CASEAUDIT_REQUIRE_BROWSER) but is not installed")
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    pdf = tmp_path / (html.stem + ".pdf")
    done = subprocess.run(
        [
            browser,
            *BROWSER_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            html.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0 and pdf.exists(), done.stderr[-2000:]
    return pdf.read_bytes()


def pdf_pages(data: bytes) -> list[tuple[float, float]]:
    """Each page's size in points, from its /MediaBox (Chromium writes page objects uncompressed)."""
    pages = re.findall(rb"/Type\s*/Page\b(?!s)", data)
    boxes = [
        (float(x1) - float(x0), float(y1) - float(y0))
        for x0, y0, x1, y1 in re.findall(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    ]
    assert len(boxes) == len(pages) > 0
    return boxes


def test_html_report_prints_on_a4_and_its_body_fits_twelve_pages(cli, demo_db, tmp_path):
    body = tmp_path / "body.html"
    assert cli("--db", demo_db, "report", "--round", ROUND, "--no-breakdowns", "-o", body).code == 0
    pages = pdf_pages(print_to_pdf(body, tmp_path))
    assert all(round(w) == A4_POINTS[0] and round(h) == A4_POINTS[1] for w, h in pages), pages
    assert len(pages) <= MAX_PAGES_WITHOUT_APPENDIX, len(pages)
    whole = tmp_path / "whole.html"
    assert cli("--db", demo_db, "report", "--round", ROUND, "-o", whole).code == 0
    with_appendix = pdf_pages(print_to_pdf(whole, tmp_path))
    assert len(with_appendix) > len(pages) and {(round(w), round(h)) for w, h in with_appendix} == {A4_POINTS}


class Css(HTMLParser):
    def __init__(self):
        super().__init__()
        self.css, self._in = "", False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "style"

    def handle_endtag(self, tag):
        self._in = False

    def handle_data(self, data):
        if self._in:
            self.css += data


def test_print_css_keeps_headings_with_what_follows_and_starts_appendices_on_a_new_page(cli, demo_db, tmp_path):
    out = tmp_path / "r.html"
    assert cli("--db", demo_db, "report", "--round", ROUND, "--notes", "-o", out).code == 0
    html = out.read_text(encoding="utf-8")
    parser = Css()
    parser.feed(html)
    css = " ".join(parser.css.split())
    assert "@page { size: A4;" in css
    rules = dict(re.findall(r"([^{}]+)\{([^{}]*)\}", css.split("@media print {", 1)[1]))
    rules = {selector.strip(): body for selector, body in rules.items()}
    assert "break-after: avoid" in next(body for selector, body in rules.items() if "h2" in selector and "h3" in selector)
    avoid_inside = next(body for selector, body in rules.items() if "table" in selector and "figure" in selector)
    assert "break-inside: avoid" in avoid_inside
    assert "break-before: page" in rules[".appendix"]
    # the appendices come last, each a new page: the breakdowns, then the notes
    order = [m.group(1) for m in re.finditer(r'<h2[^>]* id="([^"]+)"', html)]
    assert order[-2:] == ["breakdowns", "notes"]
    assert re.search(r'<h2 id="breakdowns" class="appendix">', html) and re.search(r'<h2 id="notes" class="appendix">', html)


def test_trend_follows_the_ratings_not_the_breakdowns(cli, demo_db, tmp_path):
    html, md = tmp_path / "t.html", tmp_path / "t.md"
    for out in (html, md):
        assert cli("--db", demo_db, "report", "--round", ROUND, "--compare", OTHER, "-o", out).code == 0
    order = re.findall(r'<h2[^>]* id="([^"]+)"', html.read_text(encoding="utf-8"))
    assert order.index("ratings") + 1 == order.index("trend") < order.index("domain-one") < order.index("breakdowns")
    headings = [line for line in md.read_text(encoding="utf-8").splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Ratings", f"## Change since {OTHER}"]
    assert headings.index("## Appendix: breakdowns") > headings.index("## Domain one: organisational delivery")


def test_breakdown_flags_state_each_difference_once_largest_first_with_the_question_text(cli, demo_db, tmp_path):
    from audit.reports.model import build_report
    from audit.store import AuditStore

    with AuditStore.open(demo_db, readonly=True) as store:
        report = build_report(store, store.round(ROUND))
    texts = {kq.id: kq.text for kq in report.summary.framework.key_questions}
    assert any(b.flags for b in report.breakdowns)
    for breakdown in report.breakdowns:
        gaps = [abs(f.gap) for f in breakdown.flags]
        assert gaps == sorted(gaps, reverse=True), breakdown.label
        recorded = [g for g in breakdown.groups if g.label != "Not recorded"]
        if len(recorded) == 2:  # one group against the rest is the other turned round: stated once
            flagged = [f.key_question_id for f in breakdown.flags]
            assert len(flagged) == len(set(flagged)), breakdown.label
        for flag in breakdown.flags:
            assert flag.sentence().startswith(f"{flag.key_question_id} {texts[flag.key_question_id]} {flag.group}: ")
    out = tmp_path / "r.html"
    assert cli("--db", demo_db, "report", "--round", ROUND, "-o", out).code == 0
    lines = [e for e in read_html(out).elements if e["tag"] == "li" and "gap" in e]
    assert len(lines) == sum(len(b.flags) for b in report.breakdowns)
    assert "Largest differences between groups" in out.read_text(encoding="utf-8")


class Svg(HTMLParser):
    """Each breakdown chart's label edge, band-label rows, and dots."""

    def __init__(self):
        super().__init__()
        self.charts: list[dict] = []
        self.chart: dict | None = None  # the breakdown chart being read (not a legend's swatch)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self.chart = {"label_end": float(a["data-label-end"]), "dots": [], "labels": []} if "data-label-end" in a else None
            if self.chart is not None:
                self.charts.append(self.chart)
        elif self.chart is not None and tag == "circle":
            ring = float(a.get("stroke-width", 0))
            self.chart["dots"].append((float(a["cx"]), float(a["cy"]), float(a["r"]) + ring / 2))
        elif self.chart is not None and tag == "text" and a.get("text-anchor") == "middle":  # a band line's label
            self.chart["labels"].append((float(a["x"]), float(a["y"]), float(a["font-size"])))

    def handle_endtag(self, tag):
        if tag == "svg":
            self.chart = None


def test_dot_plot_labels_are_never_overlapped_by_dots(cli, demo_db, tmp_path):
    out = tmp_path / "r.html"
    assert cli("--db", demo_db, "report", "--round", OTHER, "-o", out).code == 0
    charts = Svg()
    charts.feed(out.read_text(encoding="utf-8"))
    assert charts.charts and any(dot[0] for c in charts.charts for dot in c["dots"])
    zero_percent = 0
    for chart in charts.charts:
        for cx, cy, reach in chart["dots"]:
            assert cx - reach >= chart["label_end"] + 2, (cx, reach, chart["label_end"])  # clear of the key-question labels
            for _x, y, size in chart["labels"]:
                assert cy - reach > y + 2 or cy + reach < y - size, (cy, y)  # clear of the band lines' labels
            zero_percent += cx - reach < chart["label_end"] + 20
    assert zero_percent  # some dot sits at or near 0%, where the overlap used to be


def test_prompt_lines_read_as_sentences(cli, demo_db, tmp_path):
    out = tmp_path / "r.html"
    assert cli("--db", demo_db, "report", "--round", ROUND, "-o", out).code == 0
    html = out.read_text(encoding="utf-8")
    items = re.findall(r'<li data-question="([^"]+)"[^>]*><strong>[^<]+</strong> ([^<]+)</li>', html)
    assert len(items) > 50
    sentence = re.compile(r"(Yes in \d+ out of \d+ relevant cases \(\d+%\)|No relevant cases): [A-Z(].*[?.]$")
    for question, line in items:
        assert sentence.match(line.replace("&#x27;", "'")), (question, line)
    assert "Yes in 22 out of 33 relevant cases (67%): Does assessment analyse the person" in html


def test_xlsx_dates_and_numbers_typed_trend_headers_name_rounds_and_every_sheet_prints(cli, demo_db, tmp_path):
    out = tmp_path / "r.xlsx"
    assert cli("--db", demo_db, "report", "--round", ROUND, "--compare", OTHER, "-o", out).code == 0
    book = openpyxl.load_workbook(out)
    cases = book["Cases"]
    header = [c.value for c in cases[1]]
    first = next(cases.iter_rows(min_row=2, max_row=2))
    start, age = first[header.index("start_date")], first[header.index("age")]
    assert isinstance(start.value, dt.datetime) and start.is_date and start.number_format == "yyyy-mm-dd"
    assert isinstance(age.value, int) and age.data_type == "n"
    trend_header = [c.value for c in book["Trend"][1]]
    assert trend_header[1:3] == [OTHER, ROUND] and f"Band in {OTHER}" in trend_header and f"Band in {ROUND}" in trend_header
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert int(setup.paperSize) == int(sheet.PAPERSIZE_A4), sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and setup.fitToWidth == 1 and setup.fitToHeight == 0, sheet.title
        assert sheet.print_title_rows == "$1:$1", sheet.title
        assert setup.orientation == ("landscape" if sheet.max_column > 6 else setup.orientation), sheet.title  # wide: landscape
    assert book["Cases"].page_setup.orientation == "landscape" and book["Trend"].page_setup.orientation == "portrait"


def test_compare_between_units_warns_in_one_line_and_still_writes(cli, demo_db, tmp_path):
    out = tmp_path / "r.html"
    result = cli("--db", demo_db, "report", "--round", ROUND, "--compare", OTHER, "-o", out)
    assert result.code == 0 and out.exists()
    (line,) = result.err.strip().splitlines()
    assert line.startswith("caseaudit: warning:") and "different units" in line and "Newham PDU" in line
    assert cli("--db", demo_db, "moderate", "--round", ROUND, "--cases", "3", "--seed", "1").code == 0
    same_unit = cli("--db", demo_db, "report", "--round", ROUND, "--compare", f"{ROUND} moderation", "-o", tmp_path / "s.md")
    assert same_unit.code == 0 and same_unit.err == ""
