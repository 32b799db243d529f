"""Writing an output file (report, export, backup) so that it can never be half-written or misplaced.

- the data goes into a temporary file beside the target, created owner-only (0600, O_EXCL,
  never following a symbolic link), is flushed and fsynced, then renamed into place;
- a symbolic link or a directory at the target is refused without being touched;
- an existing file is refused unless ``force`` (the command line's ``--force``);
- on any failure the temporary file is removed: nothing partial is ever left behind.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from audit.errors import CaseauditError, DiskFull, OutputExists

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def output_error(error: OSError, path: Path, what: str = "file") -> CaseauditError:
    """One line naming the cause of a failed write."""
    if error.errno in _FULL:
        return DiskFull(f"the disk is full ({path}); nothing was written")
    reason = error.strerror or str(error)
    return CaseauditError(f"{path}: cannot write the {what} ({reason}); nothing was written")


PROTECTED: list[Path] = []  # the open database and its -wal and -shm files: never an output, even with --force


def protect_database(path: Path) -> None:
    """Outputs may never replace this database or its companion files."""
    PROTECTED[:] = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]


def check_target(path: Path, *, force: bool = False, what: str = "file") -> None:
    """Refuse a symbolic link, a directory or anything but a regular file, and an existing file unless ``force``.
    Only looks: nothing at ``path`` is touched."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise output_error(error, path, what) from None
    if stat.S_ISLNK(info.st_mode):
        raise CaseauditError(f"{path} is a symbolic link; refusing to write through it (give the real file name)")
    if stat.S_ISDIR(info.st_mode):
        raise CaseauditError(f"{path} is a folder; give a file name")
    if not stat.S_ISREG(info.st_mode):
        raise CaseauditError(f"{path} is not a regular file; refusing to write to it")
    for database in PROTECTED:
        with contextlib.suppress(OSError):
            if os.path.samefile(path, database):
                raise CaseauditError(
                    f"{path} is the database (or one of its files); a {what} never replaces it, even with --force"
                )
    if not force:
        raise OutputExists(f"{path} already exists; choose another name or add --force to replace it")


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, force: bool = False, what: str = "file") -> Iterator[Path]:
    """Yield the path of an empty owner-only temporary file beside ``path``; when the block ends
    without an exception it is fsynced and renamed to ``path``, otherwise removed."""
    path = Path(path).expanduser()
    check_target(path, force=force, what=what)
    folder = path.parent
    try:
        from audit.store import make_private_folders

        make_private_folders(folder)
    except OSError as error:
        raise output_error(error, path, what) from None
    import secrets  # here: every command imports this module, few write a file

    temporary = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError as error:
        raise output_error(error, path, what) from None
    try:
        yield temporary
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        check_target(path, force=force, what=what)  # again: something may have appeared meanwhile
        if force:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # never replaces: fails if the name was taken meanwhile
            except FileExistsError:
                raise OutputExists(f"{path} already exists; choose another name or add --force to replace it") from None
            except OSError:  # file systems without hard links (FAT, some shares)
                os.rename(temporary, path)
            else:
                os.unlink(temporary)
        _fsync_folder(folder)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise output_error(error, path, what) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def atomic_output(
    path: str | Path,
    *,
    force: bool = False,
    text: bool = False,
    encoding: str = "utf-8",
    newline: str | None = None,
    what: str = "file",
) -> Iterator[IO]:
    """An open file (binary, or text with ``text=True``) whose content appears at ``path`` only
    when the block succeeds; see the module's rules."""
    with atomic_path(path, force=force, what=what) as temporary:
        with open(temporary, "wb") as raw:
            wrapper = io.TextIOWrapper(raw, encoding=encoding, newline=newline) if text else None
            handle: IO = raw if wrapper is None else wrapper
            try:
                yield handle
                handle.flush()
                os.fsync(raw.fileno())
            finally:
                if wrapper is not None:
                    wrapper.detach()


def write_output(path: str | Path, data: bytes, *, force: bool = False, what: str = "file") -> None:
    with atomic_output(path, force=force, what=what) as handle:
        handle.write(data)
