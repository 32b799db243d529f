"""The report as one self-contained HTML file: inline CSS and SVG, no scripts, no
external resources; readable on screen and printed to PDF from a browser.

Figures carry data attributes (data-kq, data-percent, ...) so tests and other
tools can read them back without scraping prose.
"""

from __future__ import annotations

from audit.core.analysis import Breakdown
from audit.core.safe_text import for_html
from audit.core.summary import band_lines, bound_text, percent_text, rating_word
from audit.reports.model import Report, cap_sentence, prompt_figure, provisional_text
from framework import Rating

BAND_COLOUR = {
    Rating.OUTSTANDING: "#1b7837",
    Rating.GOOD: "#5aae61",
    Rating.REQUIRES_IMPROVEMENT: "#e08214",
    Rating.INADEQUATE: "#c51b7d",
    Rating.NOT_APPLICABLE: "#888888",
}
GROUP_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#ff7f0e")

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
.prompts li { margin: 2px 0; } .legend span { margin-right: 14px; white-space: nowrap; }
@media print { body { max-width: none; padding: 0; font-size: 11pt; } h2 { break-before: page; } h2.first { break-before: auto; }
  table, svg, .keep { break-inside: avoid; } a { color: inherit; text-decoration: none; } }
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
    height = top + row_h * len(kq_ids) + 10
    x = lambda p: left + width * p / 100  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {left + width + 20} {height}" role="img" '
        f'aria-label="{_e(breakdown.label)}: key-question percentages by group">'
    ]
    parts += _band_lines(report, x, top=top - 6, bottom=height - 6, label_y=top - 9, font_size=10, stroke="#999")
    for i, kq in enumerate(kq_ids):
        y = top + i * row_h + 10
        parts.append(f'<text x="{left - 8}" y="{y + 4}" font-size="11" text-anchor="end">{_e(kq)}</text>')
        parts.append(f'<line x1="{left}" y1="{y}" x2="{x(100)}" y2="{y}" stroke="#eee"/>')
        for g_index, group in enumerate(breakdown.groups):
            p = group.percentage(kq)
            if p is None:
                continue
            colour = GROUP_COLOURS[g_index % len(GROUP_COLOURS)]
            ring = ' stroke="#b00020" stroke-width="2"' if breakdown.flagged(group.label, kq) else ""
            parts.append(
                f'<circle cx="{x(p.printed):.1f}" cy="{y}" r="5" fill="{colour}"{ring}><title>{_e(group.label)}: {p.printed}%</title></circle>'
            )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: Report) -> str:
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
    out.append("<h3>Key questions against the rating bands</h3>")
    out.append(
        f'<p class="note">Bars: percentage "Yes"; black lines: the {level} interval; dashed lines: the band boundaries.</p>'
    )
    out.append(f'<div class="keep">{key_question_chart(report)}</div>')

    for heading, judged, case_standards in report.sections():
        anchor = "domain-one" if heading.startswith("Domain one") else "domain-" + heading.split(":")[0].split()[-1]
        out.append(f'<h2 id="{_e(anchor)}">{_e(heading)}</h2>')
        for s in judged:
            out.append(f'<h3 data-standard="{_e(s.id)}">{_e(s.id)} {_e(s.name)}: {_pill(s.rating, rating_word(s))}</h3>')
            if cap_sentence(s):
                out.append(f'<p class="sentence">{_e(cap_sentence(s))}</p>')
            if s.evidence:
                out.append(f"<p>{_e(s.evidence)}</p>")
            if not s.evidence and not cap_sentence(s) and s.rating is None:
                out.append('<p class="muted">Not yet rated.</p>')
        for s in case_standards:
            out += _case_standard_html(report, s, level)
    # breakdowns
    out.append('<h2 id="breakdowns">Breakdowns</h2>')
    out.append(
        f'<p class="note">Percentage "Yes" per key question for each group (relevant cases in brackets). '
        f'<span class="flag">!</span> marks a group {conventions.disproportion_points} or more points from the rest of the cases, '
        f"with at least {conventions.disproportion_min_cases} relevant cases on each side.</p>"
    )
    kq_ids = [kq.id for s in report.case_standards for kq in s.key_questions]
    for breakdown in report.breakdowns:
        out.append(f'<h3 data-breakdown="{_e(breakdown.grouping.key)}">{_e(breakdown.label)}</h3>')
        legend = "".join(
            f'<span><svg width="10" height="10"><circle cx="5" cy="5" r="5" fill="{GROUP_COLOURS[i % len(GROUP_COLOURS)]}"/></svg> {_e(g.label)} ({g.cases} cases)</span>'
            for i, g in enumerate(breakdown.groups)
        )
        out.append(f'<p class="legend">{legend}</p><div class="keep">{breakdown_chart(report, breakdown)}</div>')
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
                "<ul>"
                + "".join(f'<li class="flag-line">{_e(f.sentence(breakdown.label))}</li>' for f in breakdown.flags)
                + "</ul>"
            )

    # trend
    if report.comparison:
        c = report.comparison
        out.append(f'<h2 id="trend">Change since {_e(c.earlier_round)}</h2>')
        out.append(
            '<table class="trend"><thead><tr><th>Key question</th><th class="num">Before</th><th class="num">Now</th>'
            '<th class="num">Change (points)</th><th>Band</th></tr></thead><tbody>'
        )
        for k in c.key_questions:
            band = (
                f"{k.band_before or 'n/a'} \u2192 {k.band_now or 'n/a'}" if k.band_before != k.band_now else (k.band_now or "n/a")
            )
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
    out += _sample_html(report)
    out += _moderation_html(report)
    out.append(
        f'<p class="note">Produced by caseaudit from the round\'s stored answers. Intervals are Wilson score intervals at {level}.</p>'
    )
    out.append("</body></html>")
    return "\n".join(out)


def _case_standard_html(report: Report, s, level: str) -> list[str]:
    """One standard rated from case answers: its key-question table, sentence and prompt figures."""
    out: list[str] = []
    out.append(
        f'<h2 id="standard-{_e(s.id)}">{_e(s.id)} {_e(s.name)}: {_pill(s.rating, rating_word(s)) if s.rated else _e(rating_word(s))}</h2>'
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
    if s.basis_note:
        out.append(f'<p class="note">{_e(s.basis_note)}</p>')
    out.append('<h3>Prompts and data items</h3><ul class="prompts">')
    for kq in s.key_questions:
        for q in (*kq.prompts, *kq.data_items):
            figure = prompt_figure(q)
            out.append(
                f'<li data-question="{_e(q.id)}" data-yes="{q.counts.yes}" data-relevant="{q.counts.relevant}">'
                f"<strong>{_e(q.id)}</strong> {_e(q.text)}: {_e(figure)}</li>"
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
        '<th class="num">Reserves used</th><th class="num">Swaps</th><th class="num">Reserves not used</th></tr></thead><tbody>',
    ]
    for s in (*sample.strata, sample.total):
        out.append(
            f'<tr data-stratum="{_e(s.stratum)}"><td>{_e(s.stratum)}</td><td class="num">{s.in_sample}</td>'
            f'<td class="num">{s.reserves_used}</td><td class="num">{s.swaps}</td><td class="num">{s.reserves_left}</td></tr>'
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
