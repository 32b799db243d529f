"""The ``caseaudit`` command line: a thin layer over the library.

The parser is built from one module per command group; each command imports what it needs only when
it runs, so ``caseaudit summary`` never loads Textual, openpyxl or the report renderers. Problems the
user can fix print one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import sys
from pathlib import Path
from types import ModuleType
from typing import NoReturn

from audit.cli.common import DB_ENV, default_db_path, say
from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.errors import CaseauditError

# the modules that add the commands, in the order --help lists them
COMMAND_GROUPS = ("rounds", "answers", "moderation", "outputs", "sampling", "database", "frameworks", "app")

# which of them adds each command: a command's run builds the parser of its own group only (argparse takes
# about as long to build the 36 commands' parsers as the summary takes to work out). A command missing here,
# or listed under the wrong group, is still parsed by the whole parser (``parse_arguments``); the tests check
# that this table names every command's group.
COMMAND_GROUP_OF = {
    **dict.fromkeys(
        (
            "demo",
            "finalise",
            "import",
            "remove-case",
            "remove-round",
            "reopen",
            "restore-case",
            "restore-round",
            "rounds",
            "set-unit",
            "swap",
        ),
        "rounds",
    ),
    **dict.fromkeys(("answer", "conflicts", "history", "rate", "resolve"), "answers"),
    **dict.fromkeys(("agreement", "moderate", "settle"), "moderation"),
    **dict.fromkeys(("export", "report", "samplesize", "summary"), "outputs"),
    "sample": "sampling",
    **dict.fromkeys(("backup", "check", "merge"), "database"),
    "frameworks": "frameworks",
    **dict.fromkeys(("browse", "open", "serve"), "app"),
}


class OneLineErrors(argparse.ArgumentParser):
    """A mistake in the arguments is one line on stderr and exit status 2, like every other problem the user
    can fix: argparse's usage block is left for ``--help``. Subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{for_terminal(f'{self.prog}: error: {message}')} (see '{self.prog} --help')\n")


class _NotParsedByOneGroup(Exception):
    """The parser of one command group could not parse the arguments: the whole parser will (and say why not)."""


class _OneGroupOnly(OneLineErrors):
    def error(self, message: str) -> NoReturn:
        raise _NotParsedByOneGroup(message)


def _group(name: str) -> ModuleType:
    return importlib.import_module(f"audit.cli.{name}")


def build_parser(
    groups: tuple[str, ...] = COMMAND_GROUPS, parser_class: type[OneLineErrors] = OneLineErrors
) -> argparse.ArgumentParser:
    """The command line's parser, with every command (or only those of ``groups``)."""
    parser = parser_class(
        prog="caseaudit",
        description="Case-file audit scoring against HM Inspectorate of Probation's frameworks, or your own.",
    )
    _add_common_options(parser, default=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in groups:
        _group(name).add_commands(commands)
    _accept_common_options_after_the_command(commands)
    return parser


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The arguments, parsed first by the parser of the named command's group alone; when that parser cannot
    parse them (an unknown command, a mistake, a word taken for the command that was an option's value),
    by the whole parser, which then parses them as it always does or says what is wrong. A parse by one group's
    parser is the whole parser's parse: the same options, and a command is only ever matched by its full name."""
    words = sys.argv[1:] if argv is None else argv
    group = COMMAND_GROUP_OF.get(_command_word(words) or "")
    if group is not None:
        try:
            return build_parser((group,), _OneGroupOnly).parse_args(words)
        except _NotParsedByOneGroup:
            pass
    return build_parser().parse_args(words)


def _command_word(words: list[str]) -> str | None:
    """The first word that is not an option or the value of ``--db`` or ``--auditor`` (a guess: see ``parse_arguments``)."""
    taking_value = False
    for word in words:
        if taking_value:
            taking_value = False
        elif word in ("--db", "--auditor"):
            taking_value = True
        elif not word.startswith("-"):
            return word
    return None


def _add_common_options(parser: argparse.ArgumentParser, *, default) -> None:
    parser.add_argument("--db", type=Path, default=default, help=f"database file (default: ${DB_ENV} or the user data directory)")
    parser.add_argument("--auditor", default=default, help="who is recording (default: $CASEAUDIT_AUDITOR or your login name)")


def _accept_common_options_after_the_command(commands: argparse._SubParsersAction) -> None:
    """``--db`` and ``--auditor`` are taken before or after the command name (and a subcommand's):
    given after it, they are set by the command's own parser, which otherwise leaves them alone."""
    for command in set(commands.choices.values()):
        _add_common_options(command, default=argparse.SUPPRESS)
        for action in command._subparsers._group_actions if command._subparsers else ():
            if isinstance(action, argparse._SubParsersAction):
                _accept_common_options_after_the_command(action)


def _tui_handler():
    return _group("app").cmd_tui


def main(argv: list[str] | None = None) -> int:
    for number, word in enumerate(sys.argv[1:] if argv is None else argv, 1):
        try:
            word.encode("utf-8")
        except UnicodeEncodeError:  # bytes the locale could not decode: never stored, never a traceback
            print(f"caseaudit: argument {number} is not valid text (its bytes are not UTF-8): {word!a}", file=sys.stderr)
            return 2
    args = parse_arguments(argv)
    if args.db is None:
        args.db = default_db_path()
    handler = getattr(args, "handler", None) or _tui_handler()
    from audit.store import database as store_database

    if not getattr(handler, "interactive", False):
        store_database.busy_notice = _say_waiting
    try:
        from audit.output_file import protect_database
        from audit.store import auditor_name

        protect_database(Path(args.db).expanduser())

        if args.auditor is not None:
            args.auditor = auditor_name(args.auditor, "--auditor")
        elif os.environ.get("CASEAUDIT_AUDITOR", "").strip():
            auditor_name(os.environ["CASEAUDIT_AUDITOR"], "CASEAUDIT_AUDITOR")
        status = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:  # the reader went away (caseaudit history | head): stop quietly
        _stdout_to_devnull()
        return 1
    except CaseauditError as error:
        print(f"caseaudit: {lines_for_terminal(str(error))}", file=sys.stderr)
        return error.exit_status
    except MemoryError:  # a sheet (or anything else) too big for this machine: one line, never a traceback
        what = getattr(args, "sheet", None) or "the input"
        print(f"caseaudit: {lines_for_terminal(f'ran out of memory reading {what}')}", file=sys.stderr)
        return 2
    except (sqlite3.Error, OSError) as error:
        # every fault of the environment (disk full, read-only, locked, damaged, busy): one line, exit 2
        problem = store_database.database_error(error, args.db)
        print(f"caseaudit: {lines_for_terminal(str(problem))}", file=sys.stderr)
        return problem.exit_status
    except KeyboardInterrupt:
        print("caseaudit: interrupted; every answer already shown as saved is stored", file=sys.stderr)
        return 130
    finally:
        store_database.busy_notice = None


def _say_waiting(seconds: float) -> None:
    say(
        f"caseaudit: the database is busy with another auditor's or program's work; waiting up to {seconds:.0f} seconds...",
        file=sys.stderr,
        flush=True,
    )


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so Python's final flush does not fail again (the recipe in
    the signal module's documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests): nothing to redirect
        pass


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
