"""The QA lead's report: the inspection report's layout from our own audits, plus
precision, breakdowns with disproportionality flags, and the trend since an earlier round.

``build_report`` reads the store once; HTML, XLSX and Markdown all render the same
``Report`` value (so they cannot disagree with each other or with ``caseaudit summary``).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import attrs

from framework.model import RatingMethod

from .analysis import (
    Breakdown,
    Comparison,
    Interval,
    build_breakdown,
    compare,
    groupings,
    unsettled,
    wilson_interval,
)
from .case_table import CaseAnswerTable, read_case_answer_table
from .errors import InvalidValue
from .render import markdown_prompt_rows
from .safe_text import for_markdown
from .store import AuditStore
from .summary import QuestionFigures, StandardSummary, Summary, percent_text, rating_word, summarise, summary_from_counts

FORMATS = ("html", "xlsx", "markdown")


@attrs.frozen(kw_only=True)
class Report:
    summary: Summary
    intervals: dict[str, Interval | None]  # every key question, prompt and data item
    unsettled: frozenset[str]  # key questions whose interval crosses a band boundary
    breakdowns: tuple[Breakdown, ...]
    comparison: Comparison | None
    case_answers: CaseAnswerTable | None  # the case-level sheet, when asked for
    generated_at: str

    def interval(self, question: QuestionFigures) -> Interval | None:
        return self.intervals.get(question.id)

    @property
    def case_standards(self) -> tuple[StandardSummary, ...]:
        return tuple(s for s in self.summary.standards if s.key_questions)

    @property
    def judgement_standards(self) -> tuple[StandardSummary, ...]:
        return tuple(s for s in self.summary.standards if s.method is RatingMethod.JUDGEMENT)

    def sections(self) -> list[tuple[str, tuple[StandardSummary, ...], tuple[StandardSummary, ...]]]:
        """The report's sections in the framework's own order: per domain its heading, the standards
        rated by judgement (evidence) and those rated from case answers (tables)."""
        out = []
        for domain in self.summary.framework.domains:
            standards = [s for s in self.summary.standards if s.domain_id == domain.id]
            judged = tuple(s for s in standards if s.method is RatingMethod.JUDGEMENT)
            cases = tuple(s for s in standards if s.key_questions)
            if judged or cases:
                out.append((domain_heading(domain), judged, cases))
        return out


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def domain_heading(domain) -> str:
    """'Domain one: organisational delivery', as the reports write it, for any framework's domains."""
    number = _NUMBER_WORDS[int(domain.id)] if domain.id.isdigit() and int(domain.id) < len(_NUMBER_WORDS) else domain.id
    name = domain.name[:1].lower() + domain.name[1:] if domain.name[1:2].islower() else domain.name
    return f"Domain {number}: {name}"


def build_report(store: AuditStore, round_name: str, *, compare_with: str | None = None, case_level: bool = True) -> Report:
    """Everything the report shows, from one read of the round's cases and answers: the summary's
    counts, the case totals and every breakdown are counted from the same case table (so they
    agree with each other), which the XLSX report also writes out as its case-level sheet."""
    round_row = store.round(round_name)
    framework = store.framework_for(round_row)
    table = read_case_answer_table(store, round_name)
    total, incomplete = table.case_totals()
    summary = summary_from_counts(store, round_row, table.answer_counts(), total, incomplete)
    all_groupings = groupings()
    kq_ids = [kq.id for s in framework.standards for kq in s.key_questions]
    answer_rows, case_rows = table.breakdown_counts(sorted({g.column for g in all_groupings}), kq_ids)
    level = framework.reporting.confidence_level
    intervals: dict[str, Interval | None] = {}
    unsettled_ids = set()
    for s in summary.standards:
        for kq in s.key_questions:
            for q in (kq, *kq.prompts, *kq.data_items):
                intervals[q.id] = wilson_interval(q.counts.yes, q.counts.relevant, level)
            if s.rated and unsettled(framework, intervals[kq.id]):
                unsettled_ids.add(kq.id)
    breakdowns = []
    for grouping in all_groupings:
        answers = [{grouping.column: r["value"], **r} for r in answer_rows if r["column_name"] == grouping.column]
        cases = [{grouping.column: r["value"], "cases": r["cases"]} for r in case_rows if r["column_name"] == grouping.column]
        breakdown = build_breakdown(framework, grouping, answers, cases, kq_ids)
        if [g.label for g in breakdown.groups] not in ([], ["Not recorded"]):  # attributes nobody recorded are left out
            breakdowns.append(breakdown)
    comparison = None
    if compare_with:
        if compare_with == round_name:
            raise InvalidValue("compare with an earlier round, not the same one")
        comparison = compare(summary, summarise(store, compare_with))
    return Report(
        summary=summary,
        intervals=intervals,
        unsettled=frozenset(unsettled_ids),
        breakdowns=tuple(breakdowns),
        comparison=comparison,
        case_answers=table if case_level else None,
        generated_at=_dt.datetime.now().strftime("%d %B %Y %H:%M"),
    )


def render_report(report: Report, fmt: str, progress=None) -> bytes:
    if fmt == "html":
        from .report_html import render_html

        return render_html(report).encode("utf-8")
    if fmt == "xlsx":
        from .report_xlsx import render_xlsx

        return render_xlsx(report, progress)
    if fmt == "markdown":
        return render_markdown_report(report).encode("utf-8")
    raise InvalidValue(f"{fmt!r} is not a report format; use one of: {', '.join(FORMATS)}")


def format_from_path(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".html": "html", ".htm": "html", ".xlsx": "xlsx", ".md": "markdown", ".markdown": "markdown"}.get(suffix, "")


def write_private(path: Path, data: bytes) -> None:
    """Write a new file readable by its owner only: beside it first, then renamed into place; an
    existing file, a link or a folder at ``path`` is refused untouched (see audit/output_file.py)."""
    from .output_file import write_output

    write_output(Path(path), data, what="report")


# ------------------------------------------------------------------ shared wording
def cap_sentence(s: StandardSummary) -> str:
    if s.cap is None:
        return ""
    if s.above_cap:
        reason = f" {s.override_reason}" if s.override_reason else ""
        return f"{s.cap.rule.guidance} {s.cap.rule.override}{reason}"
    return ""


def prompt_sentence(q: QuestionFigures) -> str:
    """The reports' wording: 'in 10 out of 27 relevant cases'."""
    return f"in {q.out_of()}" if q.counts.relevant else "no relevant cases"


def prompt_figure(q: QuestionFigures) -> str:
    """The sentence with its percentage: 'in 10 out of 27 relevant cases (37%)'."""
    return f"{prompt_sentence(q)} ({percent_text(q)})" if q.counts.relevant else prompt_sentence(q)


def provisional_text(summary: Summary) -> str:
    parts = []
    if summary.incomplete_cases:
        parts.append(f"{summary.incomplete_cases} case(s) not fully answered")
    if summary.unrated_judgements:
        parts.append("standards rated by judgement not yet rated: " + ", ".join(summary.unrated_judgements))
    return ("Provisional: " + "; ".join(parts) + ".") if parts else ""


# ------------------------------------------------------------------ Markdown
def render_markdown_report(report: Report) -> str:
    summary = report.summary
    level = f"{float(summary.framework.reporting.confidence_level) * 100:.0f}%"
    md = for_markdown  # every text from the round, the framework or people goes through it
    out = [f"# {md(summary.unit)}: {md(summary.round)}", ""]
    out.append(f"Case audit report, {summary.cases} cases, generated {report.generated_at}. "
               f"Framework {summary.framework.id} version {summary.framework.version}.")
    if provisional_text(summary):
        out += ["", f"**{md(provisional_text(summary))}**"]
    out += ["", "## Ratings", "", "| Standard | Rating |", "|---|---|"]
    for s in summary.standards:
        out.append(f"| {s.id} {md(s.name)} | {rating_word(s)} |")
    out += ["", f"**Score {summary.score}/{summary.max_score}**. Overall rating: **{summary.overall_rating or 'Not yet rated'}**.", ""]
    for heading, judged, case_standards in report.sections():
        out += [f"## {md(heading)}", ""]
        for s in judged:
            out += [f"### {s.id} {md(s.name)}: {rating_word(s)}", ""]
            if cap_sentence(s):
                out += [md(cap_sentence(s)), ""]
            if s.evidence:
                out += [f"Evidence: {md(s.evidence)}", ""]
        for s in case_standards:
            out += _markdown_case_standard(report, s, level)
    out += _markdown_breakdowns(report)
    return "\n".join(out)


def _markdown_case_standard(report: Report, s: StandardSummary, level: str) -> list[str]:
    md = for_markdown
    out: list[str] = []
    out += [f"### {s.id} {md(s.name)}: {rating_word(s)}", "", f"_{md(s.headline)}_", ""]
    out += [f"| Key question | Percentage 'Yes' | Yes / relevant | {level} interval | Band |", "|---|---:|---:|---:|---|"]
    for kq in s.key_questions:
        interval = report.interval(kq)
        flag = " (rating not settled by this sample)" if kq.id in report.unsettled else ""
        band = kq.banding.rating.value if kq.banding else "n/a"
        out.append(
            f"| {kq.id} {md(kq.text)} | {percent_text(kq)} | {kq.counts.yes}/{kq.counts.relevant} | "
            f"{interval.text() if interval else 'n/a'} | {band}{flag} |"
        )
    out.append("")
    if s.sentence:
        out += [md(s.sentence), ""]
    if s.basis_note:
        out += [f"> {md(s.basis_note)}", ""]
    out += markdown_prompt_rows(s, prompt_figure)
    return out


def _markdown_breakdowns(report: Report) -> list[str]:
    summary, md = report.summary, for_markdown
    out = ["## Breakdowns", "", f"Flagged (**!**): a group {summary.framework.reporting.disproportion_points} or more points from the rest, "
            f"with at least {summary.framework.reporting.disproportion_min_cases} relevant cases on each side.", ""]
    kq_ids = [kq.id for s in report.case_standards for kq in s.key_questions]
    for breakdown in report.breakdowns:
        out += [f"### {md(breakdown.label)}", ""]
        out.append("| Key question | " + " | ".join(f"{md(g.label)} ({g.cases})" for g in breakdown.groups) + " |")
        out.append("|---|" + "---:|" * len(breakdown.groups))
        for kq in kq_ids:
            cells = []
            for g in breakdown.groups:
                p = g.percentage(kq)
                mark = " **!**" if breakdown.flagged(g.label, kq) else ""
                cells.append(f"{p.printed}% ({p.yes}/{p.relevant}){mark}" if p else "n/a")
            out.append(f"| {kq} | " + " | ".join(cells) + " |")
        out.append("")
        for flag in breakdown.flags:
            out.append(f"- {md(flag.sentence(breakdown.label))}")
        if breakdown.flags:
            out.append("")
    if report.comparison:
        c = report.comparison
        out += [f"## Change since {md(c.earlier_round)}", "", "| Key question | Before | Now | Change (points) | Band |", "|---|---:|---:|---:|---|"]
        for k in c.key_questions:
            band = f"{k.band_before or 'n/a'} -> {k.band_now or 'n/a'}" if k.band_before != k.band_now else (k.band_now or "n/a")
            before = f"{k.before}%" if k.before is not None else "n/a"
            now = f"{k.now}%" if k.now is not None else "n/a"
            out.append(f"| {k.id} | {before} | {now} | {k.points_text()} | {band} |")
        out += ["", "| Standard | Before | Now |", "|---|---|---|"]
        for s in c.standards:
            mark = " (changed)" if s.changed else ""
            out.append(f"| {s.id} {md(s.name)} | {s.before or 'n/a'} | {s.now or 'n/a'}{mark} |")
        out += ["", f"Score {c.score_before[0]}/{c.score_before[1]} -> {c.score_now[0]}/{c.score_now[1]}; "
                f"overall {c.overall_before or 'n/a'} -> {c.overall_now or 'n/a'}.", ""]
    return out
