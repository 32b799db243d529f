"""Render a Summary as a plain-text table, Markdown, CSV or JSON."""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Callable

from audit.core.safe_text import for_csv_cell, for_markdown, for_terminal, json_for_terminal
from audit.core.summary import QuestionFigures, StandardSummary, Summary, percent_text, rating_word, to_json
from framework.model import RatingMethod

_pct = percent_text
_rating_word = rating_word


def _cap_line(s: StandardSummary) -> str:
    if s.cap is None:
        return ""
    if s.above_cap:
        reason = f" Override reason: {s.override_reason}" if s.override_reason else ""
        return f"{s.cap.rule.guidance} {s.cap.rule.override}{reason}"
    return f"Advisory cap '{s.cap.cap}': {s.cap.rule.guidance}"


def _heading(summary: Summary, text: Callable[[str], str]) -> list[str]:
    """The title line and the counts, with the round's and unit's names through ``text``
    (the escaping rule of the format being written)."""
    f = summary.framework
    lines = [
        f"{text(summary.round)}: {text(summary.unit)}",
        f"Framework {f.id} version {f.version}. {summary.cases} cases, {summary.incomplete_cases} incomplete.",
    ]
    if summary.provisional:
        parts = []
        if summary.incomplete_cases:
            parts.append(f"{summary.incomplete_cases} case(s) not fully answered")
        if summary.unrated_judgements:
            parts.append("not yet rated: " + ", ".join(summary.unrated_judgements))
        lines.append("Provisional: " + "; ".join(parts) + ".")
    return lines


def render_table(summary: Summary, width: int = 100) -> str:
    out = _heading(summary, for_terminal)
    out += ["", "Ratings"]
    for s in summary.standards:
        out.append(f"  {s.id:<5} {s.name:<30} {_rating_word(s)}")
        cap = for_terminal(_cap_line(s))
        if cap:
            out += textwrap.wrap(cap, width, initial_indent="        ", subsequent_indent="        ")
    out.append(f"  Score {summary.score}/{summary.max_score}    Overall rating: {summary.overall_rating or 'Not yet rated'}")
    text_width = max(30, width - 40)
    for s in summary.standards:
        if not s.key_questions:
            continue
        out += ["", f"{s.id} {s.name}: {_rating_word(s)}"]
        out.append(f"  {'Key question':<{text_width}} {'Yes':>4} {'No':>4} {'N/A':>4} {'Open':>4}  Percentage 'Yes'")
        for kq in s.key_questions:
            wrapped = textwrap.wrap(f"{kq.id} {kq.text}", text_width) or [""]
            for line in wrapped[:-1]:
                out.append(f"  {line}")
            c = kq.counts
            out.append(f"  {wrapped[-1]:<{text_width}} {c.yes:>4} {c.no:>4} {c.not_applicable:>4} {c.unanswered:>4}  {_pct(kq)}")
        if s.sentence:
            out += textwrap.wrap(for_terminal(s.sentence), width, initial_indent="  ", subsequent_indent="  ")
        if s.basis_note:
            out += textwrap.wrap("Note: " + s.basis_note, width, initial_indent="  ", subsequent_indent="  ")
        out.append("  Prompts and data items:")
        for kq in s.key_questions:
            for q in (*kq.prompts, *kq.data_items):
                figure = f"{q.out_of()} ({_pct(q)})" if q.counts.relevant else "no relevant cases"
                out.append(f"    {q.id:<10} {figure}")
    if summary.judgement_checks is not None:
        out += ["", judgement_checks_heading(summary)]
        for check in summary.judgement_checks:
            out.append(f"  {for_terminal(check.sentence())}")
    return "\n".join(out) + "\n"


def judgement_checks_heading(summary: Summary) -> str:
    """The heading of the list of judgements to review, with how many there are."""
    checks = summary.judgement_checks or ()
    if not checks:
        return "Judgements to review: none contradicts every relevant prompt."
    return (
        f"Judgements to review: {len(checks)} key-question judgement(s) contradict every relevant prompt of their case "
        "(a key question is a holistic judgement, so it may be right: review the case and its notes)."
    )


def render_markdown(summary: Summary) -> str:
    out = [f"# {for_markdown(summary.round)}: {for_markdown(summary.unit)}", ""]
    out += [line + "  " for line in _heading(summary, for_markdown)[1:]]
    out += ["", "## Ratings", "", "| Standard | Rating |", "|---|---|"]
    for s in summary.standards:
        out.append(f"| {s.id} {for_markdown(s.name)} | {_rating_word(s)} |")
    out += [
        "",
        f"**Score {summary.score}/{summary.max_score}**, overall rating: **{summary.overall_rating or 'Not yet rated'}**",
        "",
    ]
    for s in summary.standards:
        if s.method is RatingMethod.JUDGEMENT:
            cap = _cap_line(s)
            if s.evidence or cap:
                out += [f"### {s.id} {for_markdown(s.name)}: {_rating_word(s)}", ""]
                if cap:
                    out += [for_markdown(cap), ""]
                if s.evidence:
                    out += [f"Evidence: {for_markdown(s.evidence)}", ""]
    for s in summary.standards:
        if not s.key_questions:
            continue
        out += [f"## {s.id} {for_markdown(s.name)}: {_rating_word(s)}", "", f"_{for_markdown(s.headline)}_", ""]
        out += ["| Key question | Yes | No | N/A | Unanswered | Percentage 'Yes' |", "|---|---:|---:|---:|---:|---:|"]
        for kq in s.key_questions:
            c = kq.counts
            out.append(
                f"| {kq.id} {for_markdown(kq.text)} | {c.yes} | {c.no} | {c.not_applicable} | {c.unanswered} | {_pct(kq)} |"
            )
        out.append("")
        if s.sentence:
            out += [for_markdown(s.sentence), ""]
        if s.basis_note:
            out += [f"> {for_markdown(s.basis_note)}", ""]
        out += markdown_prompt_rows(s, lambda q: f"{q.out_of()} ({_pct(q)})" if q.counts.relevant else "no relevant cases")
    out += markdown_judgement_checks(summary, "##")
    return "\n".join(out)


def markdown_judgement_checks(summary: Summary, level: str) -> list[str]:
    """The judgements to review as a Markdown section (nothing when they were not looked for)."""
    if summary.judgement_checks is None:
        return []
    out = [f"{level} Judgements to review", "", judgement_checks_heading(summary), ""]
    if summary.judgement_checks:
        out += ["| Case | Key question | Judgement | Every relevant prompt |", "|---|---|---|---|"]
        for c in summary.judgement_checks:
            out.append(f"| {for_markdown(c.case_ref)} | {c.question} {for_markdown(c.text)} | {c.judgement} | {c.prompts_say} |")
        out.append("")
    return out


def markdown_prompt_rows(s: StandardSummary, figure: Callable[[QuestionFigures], str]) -> list[str]:
    """A standard's prompts and data items as a Markdown table, each with its figure."""
    out = ["| Prompt or data item | Figure |", "|---|---|"]
    for kq in s.key_questions:
        for q in (*kq.prompts, *kq.data_items):
            out.append(f"| {q.id} {for_markdown(q.text)} | {figure(q)} |")
    out.append("")
    return out


CSV_COLUMNS = [
    "standard",
    "standard_rating",
    "question_id",
    "kind",
    "text",
    "yes",
    "no",
    "not_applicable",
    "unanswered",
    "percent",
    "band",
    "case_ref",  # judgement checks only: the case whose judgement contradicts every relevant prompt
    "judgement",
]


def render_csv(summary: Summary) -> str:
    import csv  # here: the table, the summary's usual format, does not need it

    buffer = io.StringIO()
    writer = _SafeCsvWriter(csv.writer(buffer, lineterminator="\n"))
    writer.writerow(CSV_COLUMNS)
    for s in summary.standards:
        rating = s.rating.value if s.rating else ""
        if not s.key_questions:
            writer.writerow([s.id, rating, "", "standard", s.name, "", "", "", "", "", "", "", ""])
        for kq in s.key_questions:
            for q, kind in [
                *((p, "prompt") for p in kq.prompts),
                *((d, "data item") for d in kq.data_items),
                (kq, "key question"),
            ]:
                c = q.counts
                band = q.banding.rating.value if q.banding else ""
                writer.writerow(
                    [
                        s.id,
                        rating,
                        q.id,
                        kind,
                        q.text,
                        c.yes,
                        c.no,
                        c.not_applicable,
                        c.unanswered,
                        q.percent if q.percent is not None else "",
                        band,
                        "",
                        "",
                    ]
                )
    # the judgements to review (each with its case), before the score row, which stays last
    for check in summary.judgement_checks or ():
        standard_id = summary.framework.standard_of(check.question).id
        row = [standard_id, "", check.question, "judgement check", check.text, "", "", "", "", "", ""]
        writer.writerow([*row, check.case_ref, check.judgement])
    writer.writerow(
        [
            "score",
            summary.overall_rating.value if summary.overall_rating else "",
            "",
            "score",
            f"{summary.score}/{summary.max_score}",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    return buffer.getvalue()


class _SafeCsvWriter:
    """A csv writer whose every cell goes through ``for_csv_cell``: no cell starts a formula."""

    def __init__(self, writer) -> None:
        self.writer = writer

    def writerow(self, row) -> None:
        self.writer.writerow([for_csv_cell(value) for value in row])


def render_json(summary: Summary) -> str:
    return json_for_terminal(json.dumps(to_json(summary), indent=2, ensure_ascii=False)) + "\n"
