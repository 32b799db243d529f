"""The database file itself: a safe backup, merging another copy, an integrity check."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from audit.cli.common import open_store as _store
from audit.cli.common import say


def cmd_backup(args) -> int:
    from audit.errors import DatabaseReadOnly, DiskFull
    from audit.output_file import atomic_path, check_target
    from audit.store import backup_database, database_error

    target = args.path.expanduser()
    check_target(target, force=args.force, what="backup")  # a link, a folder or an existing file: refused untouched
    with _store(args, readonly=True) as store:  # refuses a bad or missing database before copying it
        source = store.path
    try:
        with atomic_path(target, force=args.force, what="backup") as temporary:  # never a partial or empty backup left behind
            backup_database(source, temporary, fresh=False)
    except sqlite3.Error as error:
        problem = database_error(error, target)
        if not isinstance(problem, (DiskFull, DatabaseReadOnly)):
            problem = database_error(error, source)  # reading the database went wrong, not writing the copy
        raise problem from None
    say(f"Backed up {source} to {target} (readable by you only). Merge it back later with 'caseaudit merge {target}'.")
    return 0


def cmd_merge(args) -> int:
    from audit.store.merge import merge_database

    with _store(args) as store:
        report = merge_database(store, args.other, by=args.auditor)
    for line in report.lines():
        say(line)
    return 0


def cmd_check(args) -> int:
    from audit.store import check_database

    problems, path = check_database(args.db)
    if problems:
        say(f"{path}: {len(problems)} problem(s):")
        for problem in problems:
            say(f"  {problem}")
        return 1
    say(f"{path}: integrity ok, foreign keys ok, every answer matches its round's framework version.")
    if args.round is not None:
        _say_judgement_checks(args)
    return 0


def _say_judgement_checks(args) -> None:
    """The round's key-question judgements that contradict every relevant prompt: listed for review
    (a holistic judgement may rightly do so), not problems with the database."""
    from audit.reports.summary_formats import judgement_checks_heading
    from audit.store.figures import summarise

    with _store(args, readonly=True) as store:
        summary = summarise(store, store.round(args.round), with_judgement_checks=True)
    say(f"Round {summary.round!r}: " + judgement_checks_heading(summary))
    for check in summary.judgement_checks or ():
        say(f"  {check.sentence()}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("backup", help="copy the database safely while others write (to hand out or keep)")
    p.add_argument("path", type=Path)
    p.add_argument("--force", action="store_true", help="replace the file if it exists")
    p.set_defaults(handler=cmd_backup)

    p = commands.add_parser("merge", help="bring in another copy's rounds, cases, answers, notes and history")
    p.add_argument("other", type=Path, help="another caseaudit database (e.g. a colleague's backup)")
    p.set_defaults(handler=cmd_merge)

    p = commands.add_parser("check", help="integrity, foreign keys and answers against the pinned framework (exit 1 on problems)")
    p.add_argument(
        "--round", help="also list the round's key-question judgements that contradict every relevant prompt, for review"
    )
    p.set_defaults(handler=cmd_check)
