"""The QA lead's report: the inspection report's layout from our own audits, plus
precision, breakdowns with disproportionality flags, and the trend since an earlier round.

``build_report`` reads the store once; HTML, XLSX and Markdown all render the same
``Report`` value (so they cannot disagree with each other or with ``caseaudit summary``).
"""

from __future__ import annotations

import datetime as _dt

import attrs

from audit.core.analysis import (
    Breakdown,
    Comparison,
    Disproportion,
    Interval,
    build_breakdown,
    compare,
    groupings,
    unsettled,
    wilson_interval,
)
from audit.core.attributes import ATTRIBUTE_COLUMNS
from audit.core.moderation import QuestionAgreement, kappa_text
from audit.core.summary import QuestionFigures, StandardSummary, Summary, percent_text
from audit.errors import InvalidValue
from audit.store import AuditStore, Round
from audit.store.case_table import CaseAnswerTable, NoteLine, breakdown_counts, read_case_answer_table, read_note_lines
from audit.store.figures import summarise, summary_from_counts
from audit.store.judgement_checks import judgement_checks, judgement_checks_of_table
from audit.store.moderation import latest_moderation
from framework.model import RatingMethod


@attrs.frozen(kw_only=True)
class ModerationSection:
    """The round's blind second marking (its newest moderation round): agreement per key question and overall."""

    moderation_round: str
    key_questions: tuple[tuple[QuestionAgreement, str], ...]  # (agreement, the key question's text)
    overall: QuestionAgreement
    disagreements: int

    @staticmethod
    def percent_text(q: QuestionAgreement) -> str:
        return "n/a" if q.percent is None else f"{q.percent}%"

    @staticmethod
    def kappa_text(q: QuestionAgreement) -> str:
        return kappa_text(q.kappa)


@attrs.frozen(kw_only=True)
class StratumLine:
    stratum: str
    in_sample: int  # the main sample as audited: drawn for it, or a reserve swapped in
    reserves_used: int
    swaps: int  # cases swapped out (found unsuitable)
    reserves_left: int
    # the main sample drawn less the cases in it now: a swapped-out case with no reserve in its place (two copies
    # swapped in the same reserve), or a counted case removed from the round (a swapped-in reserve among them)
    short: int = 0


@attrs.frozen(kw_only=True)
class SampleSection:
    """How the sample was drawn, when the round's cases carry strata: per stratum the cases audited,
    the reserves used and the swaps."""

    strata: tuple[StratumLine, ...]

    @property
    def total(self) -> StratumLine:
        return StratumLine(
            stratum="All strata",
            in_sample=sum(s.in_sample for s in self.strata),
            reserves_used=sum(s.reserves_used for s in self.strata),
            swaps=sum(s.swaps for s in self.strata),
            reserves_left=sum(s.reserves_left for s in self.strata),
            short=sum(s.short for s in self.strata),
        )

    SENTENCE = (
        "The cases were drawn at random within strata (caseaudit sample), with reserves drawn beside the main sample. "
        "A case found unsuitable was swapped for the next reserve of its stratum; swapped-out cases and unused "
        "reserves are not counted in any figure. Cases short: the main sample drawn less the cases in it now "
        "(a swapped-out case with no reserve in its place, or a case removed from the round)."
    )


def sample_section(store: AuditStore, round_row: Round) -> SampleSection | None:
    if not store.has_strata(round_row):
        return None
    lines = []
    brought_in = store.reserves_brought_in(round_row)
    swapped = store.swaps_made(round_row)  # from the history: a swapped-out case later removed was still swapped
    removed = store.removed_from_sample(round_row)
    counts = store.sample_counts(round_row)
    for stratum in sorted(set(counts) | set(swapped) | set(removed)):  # a stratum whose every case was removed too
        statuses = counts.get(stratum, {})
        swaps, used = swapped.get(stratum, 0), brought_in.get(stratum, 0)
        lines.append(
            StratumLine(
                stratum=stratum or "(no stratum)",
                in_sample=statuses.get("main", 0) + statuses.get("swapped in", 0),
                reserves_used=used,
                swaps=swaps,
                reserves_left=statuses.get("reserve", 0),
                short=max(0, swaps - used) + removed.get(stratum, 0),
            )
        )
    return SampleSection(strata=tuple(lines))


@attrs.frozen(kw_only=True)
class Report:
    summary: Summary
    intervals: dict[str, Interval | None]  # every key question, prompt and data item
    unsettled: frozenset[str]  # key questions whose interval crosses a band boundary
    breakdowns: tuple[Breakdown, ...]
    comparison: Comparison | None
    case_answers: CaseAnswerTable | None  # the case-level sheet, when asked for
    generated_at: str
    moderation: ModerationSection | None = None  # when the round has a moderation round
    sample: SampleSection | None = None  # when the round's cases carry strata (a sample file was imported)
    notes: tuple[NoteLine, ...] | None = None  # the notes appendix, when asked for
    case_refs: bool = True  # False (--no-cases): no case reference anywhere, so no notes and judgement checks only counted
    compare_warning: str = ""  # said on stderr when the rounds compared are not like for like

    @property
    def judgement_checks(self):
        return self.summary.judgement_checks or ()

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


def build_report(
    store: AuditStore,
    round_row: Round,
    *,
    compare_with: Round | None = None,
    case_level: bool = True,
    notes: bool = False,
    breakdowns: bool = True,
    case_refs: bool = True,
) -> Report:
    """Everything the report shows, from one read of the round's cases: the summary's counts, the case
    totals, the judgement checks and every breakdown are counted from the same cases' codes (so they
    agree with each other). With ``case_level`` that read is the case table the XLSX report writes
    out as its case-level sheet; without, the codes and the breakdowns' attributes alone
    (``AuditStore.answer_code_block``), a third of the time at national scale.

    ``notes``: the notes appendix (every note on an answer, with its case and auditor);
    ``breakdowns``: the breakdowns by case attributes (an appendix in print); ``case_refs`` False:
    no case reference anywhere (no case-level sheet, no notes, judgement checks counted per key question)."""
    framework = store.framework_for(round_row)
    all_groupings = groupings()
    kq_ids = [kq.id for s in framework.standards for kq in s.key_questions]
    questions = tuple(framework.question_ids)
    columns = sorted({g.column for g in all_groupings} & set(ATTRIBUTE_COLUMNS)) if breakdowns else []
    table: CaseAnswerTable | None = None
    if case_level:  # the case-level sheet: every case with its reference, attributes and reasons, in order
        table = read_case_answer_table(store, round_row)
        block = table.code_block()  # the counts, the case totals and the judgement checks, from the same read
        checks = judgement_checks_of_table(framework, table, block)
        answer_rows, case_rows = table.breakdown_counts(columns, kq_ids, block=block)
    else:  # the figures only: the cases' codes and the breakdowns' attributes, in one pass over the cases
        block = store.answer_code_block(round_row, attribute_columns=columns)
        checks = judgement_checks(store, round_row, block=block)
        answer_rows, case_rows = breakdown_counts(questions, block, block.attribute_values, columns, kq_ids)
    summary = summary_from_counts(store, round_row, block.counts(questions, questions), block.cases, block.incomplete())
    summary = attrs.evolve(summary, judgement_checks=checks)
    level = framework.reporting.confidence_level
    intervals: dict[str, Interval | None] = {}
    unsettled_ids = set()
    for s in summary.standards:
        for kq in s.key_questions:
            for q in (kq, *kq.prompts, *kq.data_items):
                intervals[q.id] = wilson_interval(q.counts.yes, q.counts.relevant, level)
            if s.rated and unsettled(framework, intervals[kq.id]):
                unsettled_ids.add(kq.id)
    found_breakdowns = []
    for grouping in all_groupings if breakdowns else ():
        answers = [{grouping.column: r["value"], **r} for r in answer_rows if r["column_name"] == grouping.column]
        cases = [{grouping.column: r["value"], "cases": r["cases"]} for r in case_rows if r["column_name"] == grouping.column]
        breakdown = build_breakdown(framework, grouping, answers, cases, kq_ids)
        if [g.label for g in breakdown.groups] not in ([], ["Not recorded"]):  # attributes nobody recorded are left out
            found_breakdowns.append(breakdown)
    comparison = None
    compare_warning = ""
    if compare_with:
        if compare_with.id == round_row.id:
            raise InvalidValue("compare with an earlier round, not the same one")
        comparison = compare(summary, summarise(store, compare_with))
        compare_warning = comparison_warning(round_row, compare_with)
    moderation = None
    found = latest_moderation(store, round_row)
    if found is not None:
        texts = {kq.id: kq.text for kq in framework.key_questions}
        moderation = ModerationSection(
            moderation_round=found.moderation.name,
            key_questions=tuple((q, texts[q.id]) for q in found.agreement.questions if q.id in texts),
            overall=found.agreement.overall,
            disagreements=len(found.agreement.disagreements),
        )
    return Report(
        moderation=moderation,
        sample=sample_section(store, round_row),
        summary=summary,
        intervals=intervals,
        unsettled=frozenset(unsettled_ids),
        breakdowns=tuple(found_breakdowns),
        comparison=comparison,
        case_answers=table if case_level and case_refs else None,
        case_refs=case_refs,
        generated_at=_dt.datetime.now().strftime("%d %B %Y %H:%M"),
        notes=tuple(read_note_lines(store, round_row)) if notes and case_refs else None,
        compare_warning=compare_warning,
    )


def comparison_warning(now: Round, earlier: Round) -> str:
    """One line when two rounds are not like for like (another unit, another framework), else ''."""
    problems = []
    if now.unit.strip().casefold() != earlier.unit.strip().casefold():
        problems.append(f"of different units ({now.unit!r} and {earlier.unit!r})")
    if (now.framework_id, now.framework_version) != (earlier.framework_id, earlier.framework_version):
        problems.append(
            f"on different frameworks ({now.framework_id} version {now.framework_version} and "
            f"{earlier.framework_id} version {earlier.framework_version})"
        )
    if not problems:
        return ""
    return f"comparing {now.name!r} with {earlier.name!r}, rounds {' and '.join(problems)}: the change is not like for like"


# ------------------------------------------------------------------ shared wording
def judgement_check_counts(report: Report) -> list[tuple[str, str, int]]:
    """(key question id, its text, judgements to review) for each key question with any, in the framework's order."""
    counts: dict[str, int] = {}
    for check in report.judgement_checks:
        counts[check.question] = counts.get(check.question, 0) + 1
    return [(kq.id, kq.text, counts[kq.id]) for kq in report.summary.framework.key_questions if kq.id in counts]


JUDGEMENT_CHECKS_SENTENCE = (
    "Key-question judgements that contradict every relevant prompt of their case (the case screen's \u201ccheck\u201d). "
    "A key question is a holistic judgement, so one may be right: review the case and its notes."
)


def largest_differences(report: Report, how_many: int = 5) -> list[tuple[str, Disproportion]]:
    """(breakdown label, flag) of the largest differences between a group and the rest, over every breakdown."""
    every = [(b.label, f) for b in report.breakdowns for f in b.flags]
    return sorted(every, key=lambda pair: -abs(pair[1].gap))[:how_many]


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


def prompt_line(q: QuestionFigures) -> str:
    """A prompt's figure and text as one sentence, in the reports' words:
    'Yes in 12 out of 20 relevant cases (60%): Is the assessment ...?'."""
    if not q.counts.relevant:
        return f"No relevant cases: {q.text}"
    return f"Yes {prompt_figure(q)}: {q.text}"


def provisional_text(summary: Summary) -> str:
    parts = []
    if summary.incomplete_cases:
        parts.append(f"{summary.incomplete_cases} case(s) not fully answered")
    if summary.unrated_judgements:
        parts.append("standards rated by judgement not yet rated: " + ", ".join(summary.unrated_judgements))
    return ("Provisional: " + "; ".join(parts) + ".") if parts else ""
