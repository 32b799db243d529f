"""A definition file's TOML, parsed once and kept: what the TOML parser makes of a file's text is saved as JSON
in the user's cache folder (``$CASEAUDIT_CACHE_DIR`` if set, else ``frameworks`` in the user cache directory),
together with that exact text, and used again only while the file holds exactly that text. Every check of the
definition still runs on the document every time (``load.parse_definition``): only the parsing of the TOML
(tomllib is pure Python: most of what loading a framework costs a command) is saved.

A kept document is trusted only if it is intact and made from the same text, and is a regular file owned by
this user that no one else can read or write (as caseaudit writes it); otherwise it is ignored and the file is
parsed again (and the document kept again). A document JSON cannot hold exactly (a TOML date) is not kept, and
a cache that cannot be written (a read-only home) is simply not used: the cache never changes what is loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import zlib
from pathlib import Path
from typing import Any

CACHE_ENV = "CASEAUDIT_CACHE_DIR"
FORMAT = 1  # the layout of a kept document; another number is ignored
_NO_LINKS = getattr(os, "O_NOFOLLOW", 0)


def cache_dir() -> Path:
    """Where parsed definitions are kept: $CASEAUDIT_CACHE_DIR, else ``frameworks`` in the user cache directory."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs  # computes a path; no I/O

    return platformdirs.user_cache_path("caseaudit", appauthor=False) / "frameworks"


def kept_path(path: Path) -> Path:
    """The cache file for the definition at ``path``: named after the file and its full path (one per file)."""
    return cache_dir() / f"{path.name}-{zlib.crc32(os.fsencode(os.path.abspath(path))):08x}.json"


def read_toml(path: Path) -> dict[str, Any]:
    """The document ``tomllib.load`` makes of the file at ``path``, from the cache while the file's text is
    the one it was made from. Raises what ``tomllib.load`` raises: OSError, UnicodeDecodeError, TOMLDecodeError."""
    text = path.read_bytes().decode()  # as tomllib.load reads a file
    try:
        kept: Path | None = kept_path(path)
    except OSError:  # no folder to name (a relative path, and the working folder is gone): parsed, not kept
        kept = None
    document = _kept_document(kept, text) if kept is not None else None
    if document is None:
        import tomllib  # only when a file is parsed (a tenth of a command's start-up to import and run)

        document = tomllib.loads(text)
        if kept is not None:
            _keep(kept, text, document)
    return document


def _kept_document(kept: Path, text: str) -> dict[str, Any] | None:
    """The document kept for ``text``, or None: missing, damaged, made from other text, or not this user's alone."""
    try:
        fd = os.open(kept, os.O_RDONLY | _NO_LINKS)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or not _private(info):
                return None
            saved = json.loads(handle.read())
    except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not JSON, nested beyond reason
        return None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or saved.get("text") != text:
        return None
    document = saved.get("document")
    return document if isinstance(document, dict) else None


def _private(info: os.stat_result) -> bool:
    if not hasattr(os, "getuid"):  # no owners or modes to check (Windows: the user's own profile folder)
        return True
    return info.st_uid == os.getuid() and not stat.S_IMODE(info.st_mode) & 0o077


def _keep(kept: Path, text: str, document: dict[str, Any]) -> None:
    """Save the document for ``text``: owner-only, written beside and renamed into place; any failure keeps nothing."""
    try:
        saved = json.dumps({"format": FORMAT, "text": text, "document": document}, ensure_ascii=False)
    except (TypeError, ValueError):  # a value JSON cannot hold exactly (a TOML date or time): parsed every time
        return
    with contextlib.suppress(OSError):
        _private_folders(kept.parent)
        partial = kept.with_name(f".{kept.name}.{os.getpid()}-{os.urandom(4).hex()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_LINKS, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(saved)
            os.replace(partial, kept)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise


def _private_folders(folder: Path) -> None:
    """Create ``folder`` and any missing parents owner-only (0700), whatever the umask."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        with contextlib.suppress(FileExistsError):
            candidate.mkdir(mode=0o700)
            os.chmod(candidate, 0o700)
