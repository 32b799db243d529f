"""The report as Markdown: for a wiki, an email or a pull request. Every text people typed goes through ``for_markdown``."""

from __future__ import annotations

from audit.core.safe_text import for_markdown
from audit.core.summary import StandardSummary, percent_text, rating_word
from audit.reports.model import (
    JUDGEMENT_CHECKS_SENTENCE,
    Report,
    cap_sentence,
    judgement_check_counts,
    largest_differences,
    prompt_figure,
    provisional_text,
)
from audit.reports.summary_formats import markdown_prompt_rows


def render_markdown_report(report: Report) -> str:
    summary = report.summary
    level = f"{float(summary.framework.reporting.confidence_level) * 100:.0f}%"
    md = for_markdown  # every text from the round, the framework or people goes through it
    out = [f"# {md(summary.unit)}: {md(summary.round)}", ""]
    out.append(
        f"Case audit report, {summary.cases} cases, generated {report.generated_at}. "
        f"Framework {summary.framework.id} version {summary.framework.version}."
    )
    if provisional_text(summary):
        out += ["", f"**{md(provisional_text(summary))}**"]
    out += ["", "## Ratings", "", "| Standard | Rating |", "|---|---|"]
    for s in summary.standards:
        out.append(f"| {s.id} {md(s.name)} | {rating_word(s)} |")
    out += [
        "",
        f"**Score {summary.score}/{summary.max_score}**. Overall rating: **{summary.overall_rating or 'Not yet rated'}**.",
        "",
    ]
    out += _markdown_trend(report)
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
    out += _markdown_judgement_checks(report)
    out += _markdown_largest_differences(report)
    out += _markdown_sample(report)
    out += _markdown_moderation(report)
    out += _markdown_breakdowns(report)
    out += _markdown_notes(report)
    return "\n".join(out)


def _markdown_judgement_checks(report: Report) -> list[str]:
    md = for_markdown
    out = ["## Judgements to review", "", JUDGEMENT_CHECKS_SENTENCE, ""]
    if not report.judgement_checks:
        return [*out, "None: every key-question judgement agrees with at least one relevant prompt.", ""]
    if not report.case_refs:
        out += ["| Key question | Judgements to review |", "|---|---:|"]
        out += [f"| {kq_id} {md(text)} | {count} |" for kq_id, text, count in judgement_check_counts(report)]
        return [*out, ""]
    out += ["| Case | Key question | Judgement | Every relevant prompt |", "|---|---|---|---|"]
    for c in report.judgement_checks:
        out.append(f"| {md(c.case_ref)} | {c.question} {md(c.text)} | {c.judgement} | {c.prompts_say} |")
    return [*out, ""]


def _markdown_largest_differences(report: Report) -> list[str]:
    largest = largest_differences(report)
    if not largest:
        return []
    total = sum(len(b.flags) for b in report.breakdowns)
    out = [
        "## Largest differences between groups",
        "",
        f"The {len(largest)} largest of {total} difference(s) flagged in the breakdowns (appendix).",
        "",
    ]
    out += [f"- **{for_markdown(label)}.** {for_markdown(flag.sentence())}" for label, flag in largest]
    return [*out, ""]


def _markdown_notes(report: Report) -> list[str]:
    if report.notes is None:
        return []
    md = for_markdown
    out = ["## Appendix: notes", ""]
    if not report.notes:
        return [*out, "No answer in this round has a note.", ""]
    out += ["| Case | Question | Answer | Note | Auditor |", "|---|---|---|---|---|"]
    for n in report.notes:
        out.append(f"| {md(n.case_ref)} | {md(n.question)} | {md(n.answer or 'unanswered')} | {md(n.note)} | {md(n.auditor)} |")
    return [*out, ""]


def _markdown_sample(report: Report) -> list[str]:
    sample, md = report.sample, for_markdown
    if sample is None:
        return []
    out = [
        "## How the sample was drawn",
        "",
        sample.SENTENCE,
        "",
        "| Stratum | Cases in the sample | Reserves used | Swaps | Reserves not used | Cases short |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in (*sample.strata, sample.total):
        out.append(f"| {md(s.stratum)} | {s.in_sample} | {s.reserves_used} | {s.swaps} | {s.reserves_left} | {s.short} |")
    return [*out, ""]


def _markdown_moderation(report: Report) -> list[str]:
    m, md = report.moderation, for_markdown
    if m is None:
        return []
    out = [
        "## Moderation",
        "",
        f"Blind second marking: {md(m.moderation_round)}. Agreement over the cases both markers answered; "
        f"Cohen's kappa with Landis & Koch's words. {m.disagreements} disagreement(s).",
        "",
        "| Key question | Compared | Agreed | Agreement | Kappa |",
        "|---|---:|---:|---:|---|",
    ]
    for q, text in m.key_questions:
        out.append(f"| {q.id} {md(text)} | {q.compared} | {q.agreed} | {m.percent_text(q)} | {m.kappa_text(q)} |")
    o = m.overall
    out += [f"| Overall (all questions) | {o.compared} | {o.agreed} | {m.percent_text(o)} | {m.kappa_text(o)} |", ""]
    return out


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
    if not report.breakdowns:
        return []
    out = [
        "## Appendix: breakdowns",
        "",
        f"Flagged (**!**): a group {summary.framework.reporting.disproportion_points} or more points from the rest, "
        f"with at least {summary.framework.reporting.disproportion_min_cases} relevant cases on each side; where the cases "
        "fall in two groups, the difference is stated once, for the smaller group.",
        "",
    ]
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
            out.append(f"- {md(flag.sentence())}")
        if breakdown.flags:
            out.append("")
    return out


def _markdown_trend(report: Report) -> list[str]:
    md = for_markdown
    out: list[str] = []
    if report.comparison:
        c = report.comparison
        out += [
            f"## Change since {md(c.earlier_round)}",
            "",
            "| Key question | Before | Now | Change (points) | Band |",
            "|---|---:|---:|---:|---|",
        ]
        for k in c.key_questions:
            band = f"{k.band_before or 'n/a'} -> {k.band_now or 'n/a'}" if k.band_before != k.band_now else (k.band_now or "n/a")
            before = f"{k.before}%" if k.before is not None else "n/a"
            now = f"{k.now}%" if k.now is not None else "n/a"
            out.append(f"| {k.id} | {before} | {now} | {k.points_text()} | {band} |")
        out += ["", "| Standard | Before | Now |", "|---|---|---|"]
        for s in c.standards:
            mark = " (changed)" if s.changed else ""
            out.append(f"| {s.id} {md(s.name)} | {s.before or 'n/a'} | {s.now or 'n/a'}{mark} |")
        out += [
            "",
            f"Score {c.score_before[0]}/{c.score_before[1]} -> {c.score_now[0]}/{c.score_now[1]}; "
            f"overall {c.overall_before or 'n/a'} -> {c.overall_now or 'n/a'}.",
            "",
        ]
    return out


def render_markdown_bytes(report: Report) -> bytes:
    return render_markdown_report(report).encode("utf-8")
