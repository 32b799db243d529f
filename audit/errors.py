"""Named errors. Each is a user-facing problem: the command line prints its
message on one line and exits with status 2; nothing has been changed."""


class CaseauditError(Exception):
    """Base class: a clear message, exit status 2, no change made."""

    exit_status = 2


class UnknownRound(CaseauditError):
    pass


class DuplicateRound(CaseauditError):
    pass


class UnknownCase(CaseauditError):
    pass


class UnknownQuestion(CaseauditError):
    pass


class UnknownStandard(CaseauditError):
    pass


class InvalidValue(CaseauditError):
    pass


class RoundFinalised(CaseauditError):
    pass


class StaleAnswer(CaseauditError):
    """Someone else changed this answer (or rating, or case) since the screen showing it was drawn.

    ``current`` holds what is stored now (value, who, when), so the screen can show it and ask.
    """

    def __init__(self, message: str, current: dict | None = None):
        super().__init__(message)
        self.current = current


class FrameworkUnavailable(CaseauditError):
    """A round is pinned to a framework definition (id and version) this build does not have."""


class UnknownFrameworkId(CaseauditError):
    """No shipped or user-added framework has that id (and version)."""


class InvalidDefinition(CaseauditError):
    """A framework definition file has problems; the message lists each, naming file, id and problem."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__("\n".join([f"{source}: {count}; not a valid framework definition:", *problems]))


class FrameworkVersionExists(CaseauditError):
    """A definition with that id and version is already shipped or installed, with different content."""


class DuplicateCase(CaseauditError):
    pass


class CapExceeded(CaseauditError):
    """A domain-1 rating above the advisory cap was given without a reason."""


class DatabaseProblem(CaseauditError):
    """The database file cannot be used (not caseaudit's, corrupt, newer, locked, unreadable)."""


class SheetError(CaseauditError):
    """A case sheet has problems; the message lists them by row and column."""

    def __init__(self, source: str, problems: list[str], total: int | None = None):
        self.source = source
        self.problems = problems
        self.total = total if total is not None else len(problems)
        shown = problems[:20]
        more = self.total - len(shown)
        lines = [f"{source}: {self.total} problem{'s' if self.total != 1 else ''}, nothing was imported:"]
        lines += [f"  {p}" for p in shown]
        if more > 0:
            lines.append(f"  ... and {more} more")
        super().__init__("\n".join(lines))


class NoSuchDatabase(DatabaseProblem):
    """A read-only command was pointed at a database that does not exist (nothing is created)."""


class DiskFull(DatabaseProblem):
    """The disk (or the file-size limit) ran out while writing; nothing acknowledged was lost."""


class DatabaseReadOnly(DatabaseProblem):
    """The database file or its folder cannot be written."""


class DatabaseBusy(DatabaseProblem):
    """Another auditor or program held the database for longer than we wait."""


class DatabaseDamaged(DatabaseProblem):
    """SQLite found the file damaged ("database disk image is malformed")."""


class OutputExists(CaseauditError):
    """An output file exists and --force was not given."""
