"""``python -m audit.cli``: the same as the ``caseaudit`` command."""

from audit.cli.main import entry_point

entry_point()
