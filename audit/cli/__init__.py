"""The ``caseaudit`` command line: ``main`` builds the parser from one module per command group."""

from audit.cli.main import entry_point, main

__all__ = ["entry_point", "main"]
