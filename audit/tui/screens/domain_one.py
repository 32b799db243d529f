"""The judgement-ratings screen: rating the framework's judgement-rated standards (the PDU framework's
domain 1), with the advisory cap and evidence. Its title names them as the round's framework does."""

from __future__ import annotations

import enum
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.core.summary import case_supervision_ratings, judgement_label, judgement_standards
from audit.errors import CaseauditError, StaleAnswer
from audit.store import AuditStore, Round
from audit.store.figures import summarise
from audit.tui.dialogs import ConfirmDialog, TextDialog
from audit.tui.messages import DatabaseChanged
from audit.tui.screens.base import PlainCell, RoundScreen
from audit.tui.stale import rating_change
from framework import Rating
from framework.rules import advisory_cap, exceeds_cap


# ------------------------------------------------------------------ judgement ratings
class _Keep(enum.Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # a rating's evidence or override reason kept as the rating it is based on has it
Kept = str | None | Literal[_Keep.KEEP]


class DomainOneScreen(RoundScreen):
    """Ratings by judgement, with the advisory cap shown."""

    BINDINGS = [
        Binding("o", "rate('Outstanding')", "Outstanding", id="domain1.outstanding"),
        Binding("g", "rate('Good')", "Good", id="domain1.good"),
        Binding("r", "rate('Requires improvement')", "Req. improvement", id="domain1.ri"),
        Binding("i", "rate('Inadequate')", "Inadequate", id="domain1.inadequate"),
        Binding("e", "evidence", "Evidence", id="domain1.evidence"),
        Binding("escape", "back", "Back", id="domain1.back"),
    ]

    def __init__(self, store: AuditStore, round_row: Round):
        super().__init__(store, round_row)
        self.framework = store.framework_for(round_row)
        self.standards = list(judgement_standards(self.framework))
        self.label = judgement_label(self.framework)
        # read once per reload; cursor moves only display them
        self.stored: dict[str, dict] = {}
        self.cached_case_ratings: dict = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="domain1", cursor_type="row")
        yield Static("", id="domain1-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"{self.label} ratings: {for_terminal(self.round_row.name)}"
        table = self.query_one("#domain1", DataTable)
        table.add_column("Standard", key="standard")
        table.add_column("Rating", key="rating")
        table.add_column("Advisory cap", key="cap")
        table.add_column("Evidence", key="evidence")
        self.reload()
        table.focus()

    def case_ratings(self):
        self.round_row = self.current_round_row()
        return case_supervision_ratings(summarise(self.store, self.round_row))

    @on(DatabaseChanged)
    def database_changed(self) -> None:
        try:
            self.reload()
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), severity="error", markup=False)

    def reload(self) -> None:
        table = self.query_one("#domain1", DataTable)
        row_index = table.cursor_row if table.row_count else 0
        table.clear()
        self.cached_case_ratings = self.case_ratings()  # reads the round again, by its id
        self.title = f"{self.label} ratings: {for_terminal(self.round_row.name)}"
        self.stored = self.store.domain_ratings(self.round_row)
        for standard in self.standards:
            row = self.stored.get(standard.id)
            cap = advisory_cap(self.framework, standard.id, self.cached_case_ratings)
            table.add_row(
                PlainCell(f"{standard.id} {standard.name}"),
                PlainCell(row["rating"] if row else "-"),
                PlainCell(cap.cap.value if cap else "none"),
                PlainCell((row or {}).get("evidence") or ""),
                key=standard.id,
            )
        table.move_cursor(row=row_index, animate=False)
        self.show_detail()

    @on(DataTable.RowHighlighted, "#domain1")
    def show_detail(self) -> None:
        table = self.query_one("#domain1", DataTable)
        if not table.row_count:
            if not self.standards:
                self.query_one("#domain1-detail", Static).update(
                    f"{self.framework.title} has no judgement-rated standards: nothing to rate here."
                )
            return
        standard = self.standards[table.cursor_row]
        cap = advisory_cap(self.framework, standard.id, self.cached_case_ratings)
        row = self.stored.get(standard.id) or {}
        lines = [standard.headline]
        if cap:
            lines.append(f"Advisory cap '{cap.cap}': {cap.rule.guidance}")
        if row.get("override_reason"):
            lines.append(f"Override reason: {for_terminal(row['override_reason'])}")
        self.query_one("#domain1-detail", Static).update("\n".join(lines))

    def focused_standard(self):
        if not self.standards:
            self.notify(f"{self.framework.title} has no judgement-rated standards", severity="warning", markup=False)
            return None
        return self.standards[self.query_one("#domain1", DataTable).cursor_row]

    def save(
        self, standard_id: str, seen: dict | None, *, rating: Rating | None = None, evidence: Kept = KEEP, reason: Kept = KEEP
    ) -> None:
        """Rate, based on the rating the person saw (``seen``); what is not given is kept from it.

        If someone else rated the standard meanwhile nothing is written: the screen shows their rating
        and asks; confirming writes again based on theirs (keeping their evidence for a new rating,
        their rating for new evidence)."""
        base = seen or {}
        new_rating = rating or Rating(base["rating"])
        new_evidence = base.get("evidence") if evidence is KEEP else evidence
        new_reason = base.get("override_reason") if reason is KEEP else reason
        try:
            self.store.rate_standard(
                self.round_row,
                standard_id,
                new_rating,
                case_ratings=self.case_ratings(),
                evidence=new_evidence,
                override_reason=new_reason,
                rater=self.auditor,
                based_on=base.get("event_id"),
            )
            self.notify(f"{standard_id} rated '{new_rating}'", markup=False)
        except StaleAnswer as stale:
            theirs = stale.current
            self.reload()
            change = rating_change(standard_id, seen, theirs)

            def decided(replace: bool | None) -> None:
                if replace:
                    self.save(standard_id, theirs, rating=rating, evidence=evidence, reason=reason)

            ask = f"Replace it with '{rating}'?" if rating else "Save your evidence on their rating?"
            self.app.push_screen(ConfirmDialog(f"{change}. {ask}"), decided)
            return
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), severity="error", markup=False)
        self.reload()

    def action_rate(self, word: str) -> None:
        standard = self.focused_standard()
        if standard is None:
            return
        rating = Rating(word)
        seen = self.stored.get(standard.id)  # what the person saw when they chose
        cap = advisory_cap(self.framework, standard.id, self.cached_case_ratings)
        if cap is not None and exceeds_cap(self.framework, rating, cap):

            def with_reason(reason: str | None) -> None:
                if reason:
                    self.save(standard.id, seen, rating=rating, reason=reason)

            self.app.push_screen(
                TextDialog(
                    f"'{rating}' is above the advisory cap '{cap.cap}': {cap.rule.guidance} Why override it?",
                    placeholder="Override reason",
                ),
                with_reason,
            )
        else:
            self.save(standard.id, seen, rating=rating, reason=None)

    def action_evidence(self) -> None:
        standard = self.focused_standard()
        if standard is None:
            return
        seen = self.stored.get(standard.id)
        if not seen:
            self.notify("Choose a rating first (o, g, r or i)", severity="warning")
            return

        def done(evidence: str | None) -> None:
            if evidence is not None:
                self.save(standard.id, seen, evidence=evidence)

        self.app.push_screen(
            TextDialog(f"Evidence for {standard.id} {standard.name}", value=seen.get("evidence") or "", required=False), done
        )
