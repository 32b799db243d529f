"""caseaudit application: storage, command line, TUI and reports."""
