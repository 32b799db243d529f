"""The terminal UI, in a terminal or (``serve``) in a browser on this machine."""

from __future__ import annotations

import argparse
import os
import sys

from audit.errors import CaseauditError


def _launched_by_serve() -> bool:
    """textual-serve starts each session's app with Textual's web driver (its TEXTUAL_DRIVER)."""
    return "web_driver" in os.environ.get("TEXTUAL_DRIVER", "")


def _in_a_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def cmd_tui(args) -> int:
    if not _launched_by_serve() and not _in_a_terminal():
        # without a terminal Textual would spin reading a closed or piped input
        raise CaseauditError(
            "the terminal UI needs a terminal; run it in a terminal window, or use a command "
            "(see 'caseaudit --help') or 'caseaudit serve' for the browser"
        )
    try:
        from audit.tui.app import run_app
    except ImportError as error:  # the TUI arrives with its own issue
        raise CaseauditError(f"the terminal UI is not available in this build ({error})") from None
    return run_app(args.db, round_name=getattr(args, "round", None), case_ref=getattr(args, "case", None), auditor=args.auditor)


def cmd_serve(args) -> int:
    from audit.store import AuditStore
    from audit.web.serve import serve

    AuditStore.open(args.db).close()  # refuse a bad database before serving anything
    return serve(args.db.expanduser().resolve(), args.port, auditor_header=args.auditor_header)


def cmd_browse(args) -> int:
    from audit.store import AuditStore
    from audit.web.browse import browse

    AuditStore.open(args.db, readonly=True).close()  # refuse a missing, foreign or damaged file before serving
    return browse(args.db.expanduser().resolve(), args.port)


cmd_tui.interactive = True  # type: ignore[attr-defined]  # waits for the lock are shown in the app, not printed
cmd_serve.interactive = True  # type: ignore[attr-defined]


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("open", help="open the terminal UI at a round (and case)")
    p.add_argument("--round", required=True)
    p.add_argument("--case", help="case reference: open at its first unanswered question")
    p.set_defaults(handler=cmd_tui)

    p = commands.add_parser("serve", help="run the terminal UI in a browser, on 127.0.0.1 only")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free port; the real one is printed)")
    p.add_argument(
        "--auditor-header",
        metavar="HEADER",
        help="behind your single-sign-on proxy only: take each session's auditor from this trusted request "
        "header (connections without it are refused); without it each session asks who is auditing",
    )
    p.set_defaults(handler=cmd_serve)

    p = commands.add_parser(
        "browse", help="open the database in Datasette, read-only, on 127.0.0.1 only (needs caseaudit[browse])"
    )
    p.add_argument("--port", type=int, default=8001, help="port on 127.0.0.1 (0: any free port; the real one is printed)")
    p.set_defaults(handler=cmd_browse)
