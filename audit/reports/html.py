"""The report as one self-contained HTML file: inline CSS and SVG, no scripts, no
external resources; readable on screen and printed to PDF from a browser.

Figures carry data attributes (data-kq, data-percent, ...) so tests and other
tools can read them back without scraping prose.
"""

from __future__ import annotations

from audit.core.analysis import Breakdown
from audit.core.safe_text import for_html
from audit.core.summary import band_lines, bound_text, percent_text, rating_word
from audit.reports.model import (
    JUDGEMENT_CHECKS_SENTENCE,
    Report,
    cap_sentence,
    judgement_check_counts,
    largest_differences,
    prompt_line,
    provisional_text,
)
from framework import Rating

BAND_COLOUR = {
    Rating.OUTSTANDING: "#1b7837",
    Rating.GOOD: "#5aae61",
    Rating.REQUIRES_IMPROVEMENT: "#e08214",
    Rating.INADEQUATE: "#c51b7d",
    Rating.NOT_APPLICABLE: "#888888",
}
GROUP_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#ff7f0e")

DOT_RADIUS, DOT_RING, LABEL_GAP = 5, 2, 6  # a breakdown chart's dots, their flag ring, and the space kept before them

CSS = """
:root { --ink: #1d1d1b; --muted: #5f6368; --rule: #d0d4d9; --band: #f3f5f7; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: var(--ink); margin: 0 auto; max-width: 1000px; padding: 24px; }
h1 { font-size: 1.7em; margin: 0 0 4px; } h2 { font-size: 1.3em; margin-top: 1.8em; border-bottom: 2px solid var(--ink); padding-bottom: 4px; }
h3 { font-size: 1.1em; margin-top: 1.4em; } .muted { color: var(--muted); } .provisional { background: #fff4e5; border-left: 4px solid #e08214; padding: 8px 12px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; } th, td { border-bottom: 1px solid var(--rule); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; } td.num, th.num { text-align: right; white-space: nowrap; }
.pill { display: inline-block; padding: 1px 10px; border-radius: 10px; color: #fff; font-weight: 600; white-space: nowrap; }
.pill.none { background: #888; } .flag { color: #b00020; font-weight: 600; } .note { font-size: 0.92em; color: var(--muted); }
.score { font-size: 1.15em; margin: 10px 0; } .sentence { font-style: italic; } svg { max-width: 100%; height: auto; }
figure { margin: 0; } .prompts li { margin: 2px 0; } .legend span { margin-right: 14px; white-space: nowrap; }
table.key-questions td:first-child { width: 42%; } th.num { white-space: normal; }
td.note-text { white-space: pre-wrap; overflow-wrap: anywhere; } .qtext { display: block; font-size: 0.85em; color: var(--muted); }
@page { size: A4; margin: 14mm 13mm 14mm 13mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 9.5pt; line-height: 1.3; }
  h2 { margin-top: 1.1em; } h3 { margin-top: 0.9em; } th, td { padding: 2px 6px; } table { margin: 4px 0 8px; }
  h1, h2, h3, .keep-with-next { break-after: avoid; page-break-after: avoid; }
  table, figure, svg, .keep, tr, li { break-inside: avoid; page-break-inside: avoid; }
  .appendix { break-before: page; page-break-before: always; }
  .pill { padding: 0 6px; border: 1px solid rgba(0, 0, 0, 0.25); print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  svg { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; } }
"""


_e = for_html  # every text written into the page goes through it (audit/core/safe_text.py)


def _pill(rating: Rating | None, text: str | None = None) -> str:
    if rating is None:
        return f'<span class="pill none">{_e(text or "Not yet rated")}</span>'
    return f'<span class="pill" style="background:{BAND_COLOUR.get(rating, "#888")}">{_e(text or rating.value)}</span>'


def _band_lines(report: Report, x, *, top: int, bottom: int, label_y: int, font_size: int, stroke: str) -> list[str]:
    """Dashed vertical lines at the framework's own band boundaries (exactly: 62.5 draws at 62.5), each labelled above."""
    parts = []
    for line in band_lines(report.summary.framework):
        at = float(x(line))
        parts.append(f'<line x1="{at}" y1="{top}" x2="{at}" y2="{bottom}" stroke="{stroke}" stroke-dasharray="4 3"/>')
        parts.append(
            f'<text x="{at}" y="{label_y}" font-size="{font_size}" text-anchor="middle" fill="#555">{bound_text(line)}%</text>'
        )
    return parts


def key_question_chart(report: Report) -> str:
    """Horizontal bars of every key question's percentage, with interval whiskers, against the band lines."""
    rows = [(s, kq) for s in report.case_standards for kq in s.key_questions]
    left, width, row_h, top = 70, 560, 24, 30
    height = top + row_h * len(rows) + 20
    x = lambda p: left + width * p / 100  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {left + width + 60} {height}" role="img" '
        f'aria-label="Key-question percentages against the rating bands" class="kq-chart">'
    ]
    parts += _band_lines(report, x, top=top - 8, bottom=height - 16, label_y=top - 12, font_size=11, stroke="#555")
    for i, (s, kq) in enumerate(rows):
        y = top + i * row_h
        parts.append(f'<text x="{left - 8}" y="{y + 15}" font-size="12" text-anchor="end">{_e(kq.id)}</text>')
        if kq.percentage is None:
            parts.append(f'<text x="{left + 4}" y="{y + 15}" font-size="11" fill="#888">no relevant cases</text>')
            continue
        colour = BAND_COLOUR.get(kq.banding.rating, "#888") if kq.banding else "#888"
        if not s.rated:
            colour = "#9aa0a6"
        parts.append(
            f'<rect x="{left}" y="{y + 4}" width="{width * kq.percentage.printed / 100:.1f}" height="14" fill="{colour}" rx="2"/>'
        )
        interval = report.interval(kq)
        if interval:
            parts.append(
                f'<line x1="{x(interval.low):.1f}" y1="{y + 11}" x2="{x(interval.high):.1f}" y2="{y + 11}" stroke="#222" stroke-width="1.2"/>'
            )
        parts.append(f'<text x="{x(100) + 6}" y="{y + 15}" font-size="12">{kq.percent}%</text>')
    parts.append(f'<line x1="{left}" y1="{height - 16}" x2="{x(100)}" y2="{height - 16}" stroke="#999"/>')
    parts.append("</svg>")
    return "".join(parts)


def breakdown_chart(report: Report, breakdown: Breakdown) -> str:
    """A dot per group per key question, against the band lines."""
    kq_ids = [kq.id for s in report.case_standards for kq in s.key_questions]
    left, width, row_h, top = 70, 560, 20, 20
    # the scale starts a dot's width (radius and flag ring) plus a gap to the right of the labels,
    # so a dot at 0% never covers its key question's label
    inset = DOT_RADIUS + DOT_RING + LABEL_GAP
    height = top + row_h * len(kq_ids) + 10
    x = lambda p: left + inset + (width - 2 * inset) * p / 100  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {left + width + 20} {height}" role="img" '
        f'aria-label="{_e(breakdown.label)}: key-question percentages by group" class="breakdown-chart" data-label-end="{left}">'
    ]
    parts += _band_lines(report, x, top=top - 6, bottom=height - 6, label_y=top - 9, font_size=10, stroke="#999")
    for i, kq in enumerate(kq_ids):
        y = top + i * row_h + 10
        parts.append(f'<text x="{left}" y="{y + 4}" font-size="11" text-anchor="end">{_e(kq)}</text>')
        parts.append(f'<line x1="{x(0)}" y1="{y}" x2="{x(100)}" y2="{y}" stroke="#eee"/>')
        for g_index, group in enumerate(breakdown.groups):
            p = group.percentage(kq)
            if p is None:
                continue
            colour = GROUP_COLOURS[g_index % len(GROUP_COLOURS)]
            ring = f' stroke="#b00020" stroke-width="{DOT_RING}"' if breakdown.flagged(group.label, kq) else ""
            parts.append(
                f'<circle cx="{x(p.printed):.1f}" cy="{y}" r="{DOT_RADIUS}" fill="{colour}"{ring}><title>{_e(group.label)}: {p.printed}%</title></circle>'
            )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: Report) -> str:
    """The page. In print (A4) the ratings, the trend, each domain and standard, and the judgements to
    review come first; the breakdowns and the notes (on request) follow as appendices, each from a new
    page. Headings keep with what follows them, and no table, chart or list item is split across pages."""
    summary = report.summary
    conventions = summary.framework.reporting
    level = f"{float(conventions.confidence_level) * 100:.0f}%"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en-GB"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(summary.unit)}: {_e(summary.round)} case audit report</title>",
        f"<style>{CSS}</style></head><body>",
        f'<h1>{_e(summary.unit)}</h1><p class="muted">Case audit report: round <strong>{_e(summary.round)}</strong>, '
        f"{summary.cases} cases. Framework {_e(summary.framework.id)} version {_e(summary.framework.version)}. Generated {_e(report.generated_at)}.</p>",
    ]
    if provisional_text(summary):
        out.append(f'<p class="provisional">{_e(provisional_text(summary))}</p>')

    # ratings page
    out.append(
        '<h2 class="first" id="ratings">Ratings</h2><table class="ratings"><thead><tr><th>Standard</th><th>Rating</th></tr></thead><tbody>'
    )
    for s in summary.standards:
        rating = _pill(s.rating, rating_word(s)) if s.rated else f'<span class="muted">{_e(rating_word(s))}</span>'
        out.append(
            f'<tr data-standard="{_e(s.id)}" data-rating="{_e(s.rating.value if s.rating else "")}"><td>{_e(s.id)} {_e(s.name)}</td><td>{rating}</td></tr>'
        )
    out.append("</tbody></table>")
    out.append(
        f'<p class="score" data-score="{summary.score}" data-max-score="{summary.max_score}">Score <strong>{summary.score}/{summary.max_score}</strong>. '
        f'Overall rating: <span data-overall="{_e(summary.overall_rating.value if summary.overall_rating else "")}">{_pill(summary.overall_rating)}</span></p>'
    )
    out.append('<figure class="keep"><h3>Key questions against the rating bands</h3>')
    out.append(
        f'<p class="note">Bars: percentage "Yes"; black lines: the {level} interval; dashed lines: the band boundaries.</p>'
    )
    out.append(f"{key_question_chart(report)}</figure>")
    out += _trend_html(report)

    for heading, judged, case_standards in report.sections():
        anchor = "domain-one" if heading.startswith("Domain one") else "domain-" + heading.split(":")[0].split()[-1]
        out.append(f'<h2 id="{_e(anchor)}">{_e(heading)}</h2>')
        for s in judged:
            out.append(
                f'<div class="keep"><h3 data-standard="{_e(s.id)}">{_e(s.id)} {_e(s.name)}: {_pill(s.rating, rating_word(s))}</h3>'
            )
            if cap_sentence(s):
                out.append(f'<p class="sentence">{_e(cap_sentence(s))}</p>')
            if s.evidence:
                out.append(f"<p>{_e(s.evidence)}</p>")
            if not s.evidence and not cap_sentence(s) and s.rating is None:
                out.append('<p class="muted">Not yet rated.</p>')
            out.append("</div>")
        for s in case_standards:
            out += _case_standard_html(report, s, level)
    out += _judgement_checks_html(report)
    out += _largest_differences_html(report)
    out += _sample_html(report)
    out += _moderation_html(report)
    out.append(
        f'<p class="note">Produced by caseaudit from the round\'s stored answers. Intervals are Wilson score intervals at {level}.</p>'
    )
    out += _breakdowns_html(report)
    out += _notes_html(report)
    out.append("</body></html>")
    return "\n".join(out)


def _trend_html(report: Report) -> list[str]:
    """The change since an earlier round (--compare), right after the ratings."""
    c = report.comparison
    if c is None:
        return []
    out = [f'<h2 id="trend">Change since {_e(c.earlier_round)}</h2>']
    out.append(
        '<table class="trend"><thead><tr><th>Key question</th><th class="num">Before</th><th class="num">Now</th>'
        '<th class="num">Change (points)</th><th>Band</th></tr></thead><tbody>'
    )
    for k in c.key_questions:
        band = f"{k.band_before or 'n/a'} \u2192 {k.band_now or 'n/a'}" if k.band_before != k.band_now else (k.band_now or "n/a")
        out.append(
            f'<tr data-kq="{_e(k.id)}" data-change="{"" if k.points is None else k.points}"><td>{_e(k.id)}</td>'
            f'<td class="num">{"n/a" if k.before is None else f"{k.before}%"}</td><td class="num">{"n/a" if k.now is None else f"{k.now}%"}</td>'
            f'<td class="num">{k.points_text()}</td><td>{_e(band)}</td></tr>'
        )
    out.append("</tbody></table><table><thead><tr><th>Standard</th><th>Before</th><th>Now</th></tr></thead><tbody>")
    changed_mark = ' <span class="flag">changed</span>'
    for change in c.standards:
        out.append(
            f"<tr><td>{_e(change.id)} {_e(change.name)}</td><td>{_e(change.before or 'n/a')}</td><td>{_e(change.now or 'n/a')}"
            f"{changed_mark if change.changed else ''}</td></tr>"
        )
    out.append(
        f"</tbody></table><p>Score {c.score_before[0]}/{c.score_before[1]} \u2192 {c.score_now[0]}/{c.score_now[1]}; "
        f"overall rating {_e(c.overall_before or 'n/a')} \u2192 {_e(c.overall_now or 'n/a')}.</p>"
    )
    return out


def _judgement_checks_html(report: Report) -> list[str]:
    checks = report.judgement_checks
    out = ['<h2 id="judgement-checks">Judgements to review</h2>', f'<p class="note">{_e(JUDGEMENT_CHECKS_SENTENCE)}</p>']
    if not checks:
        return [*out, "<p>None: every key-question judgement agrees with at least one relevant prompt.</p>"]
    if not report.case_refs:  # a report to share: how many per key question, no case reference
        out.append(
            '<table class="judgement-checks"><thead><tr><th>Key question</th><th class="num">Judgements to review</th></tr></thead><tbody>'
        )
        for kq_id, text, count in judgement_check_counts(report):
            out.append(
                f'<tr data-kq="{_e(kq_id)}" data-checks="{count}"><td>{_e(kq_id)} {_e(text)}</td><td class="num">{count}</td></tr>'
            )
        return [*out, "</tbody></table>"]
    out.append(
        '<table class="judgement-checks"><thead><tr><th>Case</th><th>Key question</th><th>Judgement</th>'
        "<th>Every relevant prompt</th></tr></thead><tbody>"
    )
    for c in checks:
        out.append(
            f'<tr data-case="{_e(c.case_ref)}" data-kq="{_e(c.question)}" data-judgement="{_e(c.judgement)}"><td>{_e(c.case_ref)}</td>'
            f'<td>{_e(c.question)}<span class="qtext">{_e(c.text)}</span></td><td>{_e(c.judgement)}</td><td>{_e(c.prompts_say)}</td></tr>'
        )
    return [*out, "</tbody></table>"]


def _largest_differences_html(report: Report) -> list[str]:
    largest = largest_differences(report)
    if not largest:
        return []
    total = sum(len(b.flags) for b in report.breakdowns)
    out = [
        '<h2 id="largest-differences">Largest differences between groups</h2>',
        f'<p class="note">The {len(largest)} largest of {total} difference(s) of '
        f"{report.summary.framework.reporting.disproportion_points} points or more between a group and the rest of the cases "
        'flagged in the breakdowns (<a href="#breakdowns">appendix</a>).</p><ul class="largest">',
    ]
    for label, flag in largest:
        out.append(f'<li class="flag-line"><strong>{_e(label)}.</strong> {_e(flag.sentence())}</li>')
    return [*out, "</ul>"]


def _breakdowns_html(report: Report) -> list[str]:
    """Appendix: every breakdown, its dot chart, its table and its flags (largest first)."""
    if not report.breakdowns:
        return []
    conventions = report.summary.framework.reporting
    out = ['<h2 id="breakdowns" class="appendix">Appendix: breakdowns</h2>']
    out.append(
        f'<p class="note">Percentage "Yes" per key question for each group (relevant cases in brackets). '
        f'<span class="flag">!</span> marks a group {conventions.disproportion_points} or more points from the rest of the cases, '
        f"with at least {conventions.disproportion_min_cases} relevant cases on each side; where the cases fall in two groups, "
        "the difference is stated once, for the smaller group.</p>"
    )
    kq_ids = [kq.id for s in report.case_standards for kq in s.key_questions]
    for breakdown in report.breakdowns:
        legend = "".join(
            f'<span><svg width="10" height="10"><circle cx="5" cy="5" r="5" fill="{GROUP_COLOURS[i % len(GROUP_COLOURS)]}"/></svg> {_e(g.label)} ({g.cases} cases)</span>'
            for i, g in enumerate(breakdown.groups)
        )
        out.append(
            f'<figure class="keep"><h3 data-breakdown="{_e(breakdown.grouping.key)}">{_e(breakdown.label)}</h3>'
            f'<p class="legend">{legend}</p>{breakdown_chart(report, breakdown)}</figure>'
        )
        out.append(
            '<table class="breakdown"><thead><tr><th>Key question</th>'
            + "".join(f'<th class="num">{_e(g.label)}</th>' for g in breakdown.groups)
            + "</tr></thead><tbody>"
        )
        for kq in kq_ids:
            cells = []
            for g in breakdown.groups:
                p = g.percentage(kq)
                mark = ' <span class="flag">!</span>' if breakdown.flagged(g.label, kq) else ""
                cells.append(
                    f'<td class="num" data-group="{_e(g.label)}" data-kq="{_e(kq)}" data-percent="{p.printed if p else ""}">'
                    f"{f'{p.printed}% ({p.relevant})' if p else 'n/a'}{mark}</td>"
                )
            out.append(f"<tr><td>{_e(kq)}</td>{''.join(cells)}</tr>")
        out.append("</tbody></table>")
        if breakdown.flags:
            out.append(
                '<ul class="flags">'
                + "".join(
                    f'<li class="flag-line" data-group="{_e(f.group)}" data-kq="{_e(f.key_question_id)}" data-gap="{f.gap}">{_e(f.sentence())}</li>'
                    for f in breakdown.flags
                )
                + "</ul>"
            )
    return out


def _notes_html(report: Report) -> list[str]:
    """Appendix (--notes): every note on an answer, with its case, answer and auditor."""
    if report.notes is None:
        return []
    out = ['<h2 id="notes" class="appendix">Appendix: notes</h2>']
    if not report.notes:
        return [*out, "<p>No answer in this round has a note.</p>"]
    questions = {q.id: q.text for q in report.summary.framework.iter_questions()}
    out.append(
        '<table class="notes"><thead><tr><th>Case</th><th>Question</th><th>Answer</th><th>Note</th><th>Auditor</th></tr></thead><tbody>'
    )
    for n in report.notes:
        out.append(
            f'<tr data-case="{_e(n.case_ref)}" data-question="{_e(n.question)}"><td>{_e(n.case_ref)}</td>'
            f'<td>{_e(n.question)}<span class="qtext">{_e(questions.get(n.question, ""))}</span></td><td>{_e(n.answer or "unanswered")}</td>'
            f'<td class="note-text">{_e(n.note)}</td><td>{_e(n.auditor)}</td></tr>'
        )
    return [*out, "</tbody></table>"]


def _case_standard_html(report: Report, s, level: str) -> list[str]:
    """One standard rated from case answers: its key-question table, sentence and prompt figures."""
    out: list[str] = []
    out.append(
        f'<div class="keep"><h2 id="standard-{_e(s.id)}">{_e(s.id)} {_e(s.name)}: {_pill(s.rating, rating_word(s)) if s.rated else _e(rating_word(s))}</h2>'
    )
    out.append(f'<p class="muted">{_e(s.headline)}</p>')
    out.append(
        f'<table class="key-questions"><thead><tr><th>Key question</th><th class="num">Percentage \u2018Yes\u2019</th>'
        f'<th class="num">Yes / relevant</th><th class="num">{level} interval</th><th>Band</th></tr></thead><tbody>'
    )
    for kq in s.key_questions:
        interval = report.interval(kq)
        flag = (
            ' <span class="flag" title="The interval crosses a band boundary">rating not settled by this sample</span>'
            if kq.id in report.unsettled
            else ""
        )
        band = _pill(kq.banding.rating) if kq.banding and s.rated else (_e(kq.banding.rating.value) if kq.banding else "n/a")
        out.append(
            f'<tr data-kq="{_e(kq.id)}" data-percent="{"" if kq.percent is None else kq.percent}" data-yes="{kq.counts.yes}" '
            f'data-relevant="{kq.counts.relevant}"><td>{_e(kq.id)} {_e(kq.text)}</td><td class="num">{percent_text(kq)}</td>'
            f'<td class="num">{kq.counts.yes}/{kq.counts.relevant}</td><td class="num">{interval.text() if interval else "n/a"}</td><td>{band}{flag}</td></tr>'
        )
    out.append("</tbody></table>")
    if s.sentence:
        out.append(f'<p class="sentence" data-sentence="{_e(s.id)}">{_e(s.sentence)}</p>')
    out.append("</div>")
    if s.basis_note:
        out.append(f'<p class="note">{_e(s.basis_note)}</p>')
    out.append('<h3 class="keep-with-next">Prompts and data items</h3><ul class="prompts">')
    for kq in s.key_questions:
        for q in (*kq.prompts, *kq.data_items):
            out.append(
                f'<li data-question="{_e(q.id)}" data-yes="{q.counts.yes}" data-relevant="{q.counts.relevant}">'
                f"<strong>{_e(q.id)}</strong> {_e(prompt_line(q))}</li>"
            )
    out.append("</ul>")
    return out


def _sample_html(report: Report) -> list[str]:
    sample = report.sample
    if sample is None:
        return []
    out = [
        '<h2 id="sample">How the sample was drawn</h2>',
        f"<p>{_e(sample.SENTENCE)}</p>",
        '<table class="sample"><thead><tr><th>Stratum</th><th class="num">Cases in the sample</th>'
        '<th class="num">Reserves used</th><th class="num">Swaps</th><th class="num">Reserves not used</th>'
        '<th class="num">Cases short</th></tr></thead><tbody>',
    ]
    for s in (*sample.strata, sample.total):
        out.append(
            f'<tr data-stratum="{_e(s.stratum)}"><td>{_e(s.stratum)}</td><td class="num">{s.in_sample}</td>'
            f'<td class="num">{s.reserves_used}</td><td class="num">{s.swaps}</td><td class="num">{s.reserves_left}</td>'
            f'<td class="num">{s.short}</td></tr>'
        )
    out.append("</tbody></table>")
    return out


def _moderation_html(report: Report) -> list[str]:
    m = report.moderation
    if m is None:
        return []
    out = [
        '<h2 id="moderation">Moderation</h2>',
        f"<p>Blind second marking: {_e(m.moderation_round)}. Agreement over the cases both markers answered; "
        f"Cohen's kappa with Landis &amp; Koch's words. {m.disagreements} disagreement(s).</p>",
        '<table class="moderation"><thead><tr><th>Key question</th><th class="num">Compared</th><th class="num">Agreed</th>'
        '<th class="num">Agreement</th><th>Kappa</th></tr></thead><tbody>',
    ]
    rows = [(q, f"{q.id} {text}") for q, text in m.key_questions] + [(m.overall, "Overall (all questions)")]
    for q, label in rows:
        out.append(
            f'<tr data-kq="{_e(q.id)}"><td>{_e(label)}</td><td class="num">{q.compared}</td><td class="num">{q.agreed}</td>'
            f'<td class="num">{_e(m.percent_text(q))}</td><td>{_e(m.kappa_text(q))}</td></tr>'
        )
    out.append("</tbody></table>")
    return out


def render_html_bytes(report: Report) -> bytes:
    return render_html(report).encode("utf-8")
