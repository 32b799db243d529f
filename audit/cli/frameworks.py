"""``caseaudit frameworks``: list, show, copy, check and add framework definitions.

A QA lead writes a local framework by copying a shipped one (``new``), editing its
ids, texts and bands, checking it (``check``) and installing it in their frameworks
folder (``add``); rounds can then be imported against it (``import --framework``).
Installed versions are immutable, as shipped ones are: a changed question set is a new
version. Handlers import what they need when they run, so building the parser stays light.
"""

from __future__ import annotations

from pathlib import Path


def say(text: object = "", **options) -> None:
    """A line for the terminal: a framework file's text may hold control characters; shown, never obeyed."""
    from audit.core.safe_text import lines_for_terminal

    print(lines_for_terminal(str(text)), **options)


def say_json(text: str) -> None:
    from audit.core.safe_text import json_for_terminal

    print(json_for_terminal(text))


FORMATS = ("table", "json")


def add_commands(subparsers) -> None:
    """Add the ``frameworks`` command group to caseaudit's subparsers."""
    group = subparsers.add_parser(
        "frameworks",
        help="list, show, copy, check and add framework definitions",
        description="Framework definitions: the ones shipped with caseaudit and the ones added to your frameworks folder "
        "($CASEAUDIT_FRAMEWORKS_DIR, else 'frameworks' in your user data directory).",
    )
    group.set_defaults(handler=cmd_frameworks_list, format="table")
    commands = group.add_subparsers(dest="frameworks_command", metavar="SUBCOMMAND")

    p = commands.add_parser("list", help="shipped and user-added frameworks: id, version, title, where from")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(handler=cmd_frameworks_list)

    p = commands.add_parser("show", help="a framework's standards, key questions, prompts, bands, points and score bands")
    p.add_argument("framework_id", metavar="ID")
    p.add_argument("--version", help="a pinned version (default: the newest)")
    p.add_argument("--format", choices=(*FORMATS, "toml"), default="table", help="toml prints the definition file itself")
    p.set_defaults(handler=cmd_frameworks_show)

    p = commands.add_parser("new", help="copy a framework's definition under a new id (version 1), to edit")
    p.add_argument("new_id", metavar="NEW_ID")
    p.add_argument("--from", dest="from_id", metavar="ID", required=True, help="the framework to copy")
    p.add_argument("--version", help="the version to copy (default: the newest)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.toml", help="the new file (never overwritten)")
    p.set_defaults(handler=cmd_frameworks_new)

    p = commands.add_parser("check", help="validate a definition file as on load (exit 2 listing every problem)")
    p.add_argument("file", type=Path, metavar="FILE")
    p.set_defaults(handler=cmd_frameworks_check)

    p = commands.add_parser("add", help="validate a definition file and install it in your frameworks folder")
    p.add_argument("file", type=Path, metavar="FILE")
    p.set_defaults(handler=cmd_frameworks_add)


# ------------------------------------------------------------------ helpers
def _warn_left_out(problems) -> None:
    import sys

    for problem in problems:
        print(f"caseaudit: warning: {problem} (left out)", file=sys.stderr)


def _framework(framework_id: str, version: str | None):
    from audit.errors import UnknownFrameworkId
    from framework import UnknownFramework, load_framework

    try:
        return load_framework(framework_id, version)
    except UnknownFramework as error:
        raise UnknownFrameworkId(f"{error}; see 'caseaudit frameworks list'") from None


def _validated(path: Path):
    """The framework a file defines, or InvalidDefinition listing every problem."""
    from audit.errors import InvalidDefinition, InvalidValue
    from framework import DefinitionError, load_file

    if not path.is_file():
        raise InvalidValue(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        return load_file(path)
    except DefinitionError as error:
        raise InvalidDefinition(str(path), [str(p) for p in error.problems]) from None


def _number(value):
    """A Fraction as JSON: a whole number, else the fraction as text ("1/6"), as the definition writes it."""
    if value is None:
        return None
    return int(value) if value.denominator == 1 else str(value)


def _counts(framework) -> tuple[int, int, int]:
    key_questions = framework.key_questions
    return len(framework.standards), len(key_questions), sum(len(kq.prompts) for kq in key_questions)


# ------------------------------------------------------------------ list
def cmd_frameworks_list(args) -> int:
    import json

    from framework import catalogue

    found = catalogue()
    rows = [
        {"id": f.id, "version": f.version, "title": f.title, "origin": f.origin.value, "path": f.source} for f in found.frameworks
    ]
    if args.format == "json":
        say_json(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        id_width = max(len("Id"), *(len(r["id"]) for r in rows))
        title_width = max(len("Title"), *(len(r["title"]) for r in rows))
        say(f"{'Id':<{id_width}}  {'Version':<7}  {'Title':<{title_width}}  From")
        for r in rows:
            where = "shipped" if r["origin"] == "shipped" else r["path"]
            say(f"{r['id']:<{id_width}}  {r['version']:<7}  {r['title']:<{title_width}}  {where}")
        say(f"Your frameworks folder: {found.folder} (add one with 'caseaudit frameworks add FILE')")
    _warn_left_out(found.problems)
    return 0


# ------------------------------------------------------------------ show
def framework_json(framework) -> dict:
    """The definition as JSON; keys kept stable for other tools (documented in README)."""
    from framework.rules import score_ranges

    ranges = {r.rating: r for r in score_ranges(framework)}
    return {
        "id": framework.id,
        "version": framework.version,
        "title": framework.title,
        "origin": framework.origin.value,
        "path": framework.source,
        "band_basis": framework.band_basis.value,
        "rating_bands": [
            {"rating": b.rating.value, "from": _number(b.lower), "below": _number(b.upper)} for b in framework.rating_bands
        ],
        "points": {rating.value: points for rating, points in framework.points},
        "max_score": framework.max_score,
        "score_bands": [
            {
                "rating": b.rating.value,
                "up_to": _number(b.up_to),
                "lowest": ranges[b.rating].lowest,
                "highest": ranges[b.rating].highest,
            }
            for b in framework.score_bands
        ],
        "limiting_rules": [
            {
                "id": rule.id,
                "standard": rule.standard_id,
                "when_all_of": list(rule.when_all_of),
                "when_rating": rule.when_rating.value,
                "cap": rule.cap.value,
                "guidance": rule.guidance,
                "override": rule.override,
            }
            for rule in framework.limiting_rules
        ],
        "domains": [{"id": d.id, "name": d.name} for d in framework.domains],
        "standards": [
            {
                "id": s.id,
                "name": s.name,
                "domain": s.domain_id,
                "method": s.method.value,
                "scored": s.scored,
                "headline": s.headline,
                "key_questions": [
                    {
                        "id": kq.id,
                        "text": kq.text,
                        "guidance": kq.guidance,
                        "prompts": [{"id": p.id, "text": p.text} for p in kq.prompts],
                        "data_items": [
                            {"id": d.id, "text": d.text, "not_applicable_label": d.not_applicable_label} for d in kq.data_items
                        ],
                    }
                    for kq in s.key_questions
                ],
            }
            for s in framework.standards
        ],
    }


def _show_table(framework) -> str:
    from framework.model import RatingMethod
    from framework.rules import score_ranges

    lines = [f"{framework.id} version {framework.version}: {framework.title}"]
    lines.append(
        f"From: {'shipped with caseaudit' if framework.where_from == 'shipped' else 'added by you'} ({framework.source})"
    )
    standards, key_questions, prompts = _counts(framework)
    lines.append(f"{standards} standards, {key_questions} key questions, {prompts} prompts")
    bands = []
    for b in framework.rating_bands:
        upper = f"below {_number(b.upper)}" if b.upper is not None else "up to 100"
        bands.append(f"{b.rating} {_number(b.lower)} {upper}")
    lines.append(f"Key-question bands (on the {framework.band_basis} percentage): " + "; ".join(bands))
    lines.append("Points: " + ", ".join(f"{rating} {points}" for rating, points in framework.points))
    ranges = ", ".join(f"{r.rating} {r.lowest}-{r.highest}" for r in score_ranges(framework))
    lines.append(f"Overall rating, score out of {framework.max_score} (every scored standard rated): {ranges}")
    for rule in framework.limiting_rules:
        lines.append(
            f"Limiting rule {rule.id}: {rule.standard_id} capped at '{rule.cap}' when "
            f"{', '.join(rule.when_all_of)} {'is' if len(rule.when_all_of) == 1 else 'are all'} '{rule.when_rating}'"
        )
    for domain in framework.domains:
        lines.append("")
        lines.append(f"Domain {domain.id}: {domain.name}")
        for s in framework.standards:
            if s.domain_id != domain.id:
                continue
            how = {
                RatingMethod.RULE: "rated from case answers",
                RatingMethod.JUDGEMENT: "rated by judgement",
                RatingMethod.UNRATED: "not rated (for information)",
            }[s.method]
            if s.rated and not s.scored:
                how += ", not scored"
            lines.append(f"  {s.id} {s.name} ({how})")
            for kq in s.key_questions:
                lines.append(f"    {kq.id} {kq.text}")
                for q in (*kq.prompts, *kq.data_items):
                    lines.append(f"      {q.id} {q.text}")
    return "\n".join(lines) + "\n"


def cmd_frameworks_show(args) -> int:
    import json

    from audit.errors import CaseauditError

    framework = _framework(args.framework_id, args.version)
    if args.format == "json":
        say_json(json.dumps(framework_json(framework), indent=2, ensure_ascii=False))
    elif args.format == "toml":
        try:
            say(Path(framework.source).read_text(encoding="utf-8"), end="")
        except OSError as error:
            raise CaseauditError(f"{framework.source}: cannot read the definition ({error.strerror})") from None
    else:
        say(_show_table(framework), end="")
    return 0


# ------------------------------------------------------------------ new
def _copy_text(text: str, new_id: str, title: str) -> str | None:
    """The definition's text with its top-level id, version and title replaced; None if they cannot be found.

    Editing the text (not re-writing the TOML) keeps every comment, which is where the
    definition says what is confirmed and what is a working reconstruction.
    """
    import json
    import re

    lines = text.splitlines(keepends=True)
    values = {"id": json.dumps(new_id), "version": '"1"', "title": json.dumps(title, ensure_ascii=False)}
    done = set()
    for n, line in enumerate(lines):
        if re.match(r"\s*\[", line):  # the first table: top-level keys come before it
            break
        match = re.match(r"\s*(id|version|title)\s*=", line)
        if match and match.group(1) not in done:
            key = match.group(1)
            lines[n] = f"{key} = {values[key]}\n"
            done.add(key)
    return "".join(lines) if done == set(values) else None


def cmd_frameworks_new(args) -> int:
    import datetime as dt
    import os
    import re
    import tomllib

    from audit.errors import CaseauditError, InvalidValue
    from framework import DefinitionError, available_frameworks
    from framework.load import parse_definition

    new_id = args.new_id.strip()
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z._-]*", new_id):
        raise InvalidValue(f"{new_id!r} is not a framework id: use letters, digits, '.', '-' and '_' (e.g. 'our-pdu-audit-2026')")
    if any(f.id == new_id for f in available_frameworks()):
        raise InvalidValue(f"a framework called {new_id!r} already exists; choose a new id for your copy")
    source = _framework(args.from_id, args.version)
    output = args.output.expanduser()
    if output.exists():
        raise InvalidValue(f"{output} already exists; choose a new file name (an existing file is never overwritten)")
    try:
        original = Path(source.source).read_text(encoding="utf-8")
    except OSError as error:
        raise CaseauditError(f"{source.source}: cannot read the definition ({error.strerror})") from None
    text = _copy_text(original, new_id, f"{source.title} (local copy: {new_id})")
    if text is None:
        raise CaseauditError(f"{source.source}: cannot find its top-level id, version and title lines to copy it")
    today = dt.date.today().isoformat()
    header = (
        f"# {new_id}: a local framework copied from {source.id} version {source.version} on {today}\n"
        f"# by 'caseaudit frameworks new'. Edit its title, standards, key questions, prompts and\n"
        f"# bands; then 'caseaudit frameworks check {output.name}' and 'caseaudit frameworks add {output.name}'.\n"
        f"# Once added (and used by a round), a version never changes: bump the version instead.\n#\n"
    )
    text = header + text
    try:  # the copy must be what it says: valid, under the new id
        copied = parse_definition(tomllib.loads(text), str(output))
    except (tomllib.TOMLDecodeError, DefinitionError) as error:
        raise CaseauditError(
            f"{source.source}: the copy would not be a valid definition ({str(error).splitlines()[0]})"
        ) from None
    assert copied.id == new_id and copied.version == "1"
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidValue(f"{output} already exists; choose a new file name (an existing file is never overwritten)") from None
    except OSError as error:
        raise CaseauditError(f"{output}: cannot write the copy ({error.strerror})") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    say(f"Wrote {output}: {source.id} version {source.version} copied as {new_id} version 1 (readable by you only).")
    say(f"Edit it, then: caseaudit frameworks check {output}   and   caseaudit frameworks add {output}")
    return 0


# ------------------------------------------------------------------ check
def _same_id_and_version(framework):
    """The shipped or installed framework with this one's id and version, if any."""
    from framework import available_frameworks

    for other in available_frameworks():
        if other.id == framework.id and other.version == framework.version:
            return other
    return None


def _same_definition(path: Path, other) -> tuple[bool, bool]:
    """(byte for byte the same, the same definition once comments and layout are set aside)."""
    import tomllib

    try:
        ours, theirs = path.read_bytes(), Path(other.source).read_bytes()
    except OSError:
        return False, False
    if ours == theirs:
        return True, True
    try:
        return False, tomllib.loads(ours.decode("utf-8")) == tomllib.loads(theirs.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False, False


def cmd_frameworks_check(args) -> int:
    path = args.file.expanduser()
    framework = _validated(path)
    standards, key_questions, prompts = _counts(framework)
    say(
        f"{path}: framework {framework.id} version {framework.version} is valid: "
        f"{standards} standards, {key_questions} key questions, {prompts} prompts"
    )
    other = _same_id_and_version(framework)
    if other is not None and Path(other.source).resolve() != path.resolve():
        same, equivalent = _same_definition(path, other)
        where = "ships with caseaudit" if other.where_from == "shipped" else f"is installed ({other.source})"
        if same or equivalent:
            say(f"Note: {framework.id} version {framework.version} {where} with this same definition.")
        else:
            say(
                f"Note: {framework.id} version {framework.version} {where} with different content: "
                "'frameworks add' would refuse this file; give it a new version (or a new id)."
            )
    return 0


# ------------------------------------------------------------------ add
def cmd_frameworks_add(args) -> int:
    import os

    from audit.errors import CaseauditError, FrameworkVersionExists
    from framework import load_framework, user_frameworks_dir

    path = args.file.expanduser()
    framework = _validated(path)
    name = f"{framework.id} version {framework.version}"
    other = _same_id_and_version(framework)
    if other is not None:
        same, equivalent = _same_definition(path, other)
        if other.where_from == "shipped":
            if same or equivalent:
                say(f"{name} ships with caseaudit: already installed, nothing to add.")
                return 0
            raise FrameworkVersionExists(
                f"{path}: {name} ships with caseaudit and cannot be replaced; give your copy a new id "
                f"('caseaudit frameworks new') or a new version"
            )
        if same or equivalent:
            layout = " (it differs only in comments or layout; the installed file is kept)" if not same else ""
            say(f"{name} is already installed as {other.source}{layout}.")
            return 0
        raise FrameworkVersionExists(
            f"{path}: {name} is already installed ({other.source}) with different content; "
            "versions are immutable (rounds pin them): bump the version"
        )
    folder = user_frameworks_dir()
    target = folder / f"{framework.id}-v{framework.version}.toml"
    content = path.read_bytes()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CaseauditError(
            f"{target} already exists but does not define {name} (see 'caseaudit frameworks list'); move it away first"
        ) from None
    except OSError as error:
        raise CaseauditError(f"{target}: cannot install the definition ({error.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        target.unlink(missing_ok=True)
        raise CaseauditError(f"{target}: cannot install the definition ({error.strerror})") from None
    installed = load_framework(framework.id, framework.version)
    standards, key_questions, prompts = _counts(installed)
    say(
        f"Added {name} ({standards} standards, {key_questions} key questions, {prompts} prompts) as {target}. "
        f"Import against it with: caseaudit import SHEET --round NAME --framework {framework.id}"
    )
    return 0


__all__ = ["add_commands", "framework_json"]
