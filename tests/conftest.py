from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audit.cli import main  # noqa: E402
from audit.demo import load_demo  # noqa: E402
from audit.store import AuditStore  # noqa: E402
from framework import load_framework  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _private_frameworks_folder(tmp_path_factory):
    """No test reads or writes the real user's frameworks folder (tests that add frameworks set their own)."""
    saved = os.environ.get("CASEAUDIT_FRAMEWORKS_DIR")
    os.environ["CASEAUDIT_FRAMEWORKS_DIR"] = str(tmp_path_factory.mktemp("user-frameworks"))
    yield
    if saved is None:
        os.environ.pop("CASEAUDIT_FRAMEWORKS_DIR", None)
    else:
        os.environ["CASEAUDIT_FRAMEWORKS_DIR"] = saved


@pytest.fixture(scope="session")
def framework():
    return load_framework()


@pytest.fixture(scope="session")
def demo_db_master(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    with AuditStore.open(path) as store:
        list(load_demo(store))
    return path


@pytest.fixture
def demo_db(demo_db_master, tmp_path) -> Path:
    """A private copy of a database holding both demo rounds."""
    path = tmp_path / "demo.db"
    with AuditStore.open(demo_db_master) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(demo_db_master, path)
    return path


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def store(db_path):
    with AuditStore.open(db_path) as s:
        yield s


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[:200]!r}, err={self.err[:300]!r})"


@pytest.fixture
def cli(capsys):
    """Run `caseaudit ARGS` in-process; returns exit code, stdout, stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
