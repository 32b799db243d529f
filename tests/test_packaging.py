"""A non-editable install works on its own: build the wheel, install it into a fresh virtualenv and run the
installed `caseaudit` from outside the checkout (demo data, shipped frameworks, published figures).

Offline: the wheel is built with the running interpreter's setuptools (--no-build-isolation; the `test` extra
pins a setuptools that builds wheels by itself) and installed with --no-deps --no-index. The fresh venv sees
the running interpreter's dependencies through a .pth file naming their site-packages directories; the
checkout itself is not on its path, which the test asserts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.published import NEWHAM

REPO = Path(__file__).resolve().parents[1]
DEPENDENCIES = ["textual", "sqlite_utils", "attrs", "platformdirs", "openpyxl", "textual_serve"]
# No subprocess sees the checkout through PYTHONPATH (pip would take a caseaudit.egg-info there for an install)
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "CASEAUDIT_DEMO_DIR"}}


def run(args: list, *, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = CLEAN_ENV if env is None else env
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, args))} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def dependency_dirs() -> list[str]:
    """The site-packages directories the running interpreter imports caseaudit's dependencies from."""
    dirs: list[str] = []
    for name in DEPENDENCIES:
        module = __import__(name)
        origin = Path(module.__file__).resolve()
        top = origin.parents[1] if origin.name == "__init__.py" else origin.parent
        if str(top) not in dirs:
            dirs.append(str(top))
    assert str(REPO) not in dirs, "a dependency is imported from the checkout itself"
    return dirs


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("packaging")
    # Build from a copy, so the build's build/ and egg-info never land in (or race within) the checkout.
    source = tmp / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "*.db", "*.db-*"
        ),
    )
    wheels = tmp / "wheels"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", wheels, source],
        cwd=tmp,
    )
    (wheel,) = wheels.glob("caseaudit-*.whl")

    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            wheel,
        ],
        cwd=tmp,
    )
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).stdout.strip()
    Path(purelib, "caseaudit-test-dependencies.pth").write_text("\n".join(dependency_dirs()) + "\n", encoding="utf-8")

    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = CLEAN_ENV | {
        "HOME": str(elsewhere),
        "XDG_DATA_HOME": str(elsewhere / "data"),
        "XDG_CONFIG_HOME": str(elsewhere / "config"),
    }
    script = venv / ("Scripts/caseaudit.exe" if os.name == "nt" else "bin/caseaudit")
    return {"wheel": wheel, "venv": venv, "python": python, "script": script, "cwd": elsewhere, "env": env}


def test_wheel_carries_every_module_and_data_file(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    modules = {p.relative_to(REPO).as_posix() for package in ("audit", "framework") for p in (REPO / package).rglob("*.py")}
    assert modules - names == set(), "modules missing from the wheel: add their package to pyproject.toml"
    data = {f"framework/definitions/{p.name}" for p in (REPO / "framework/definitions").glob("*.toml")}
    data |= {f"audit/web/templates/{p.name}" for p in (REPO / "audit/web/templates").glob("*.html")}
    data |= {"audit/tui/app.tcss"} | {f"audit/demo_data/{p.name}" for p in (REPO / "data/demo").iterdir() if p.is_file()}
    assert data - names == set(), "data files missing from the wheel"


def test_the_installed_package_is_not_the_checkout(installed):
    where = run(
        [installed["python"], "-c", "import audit, framework; print(audit.__file__); print(framework.__file__)"],
        cwd=installed["cwd"],
        env=installed["env"],
    )
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to(installed["venv"].resolve()), where.stdout


def test_installed_caseaudit_reproduces_newham_from_anywhere(installed):
    db = installed["cwd"] / "audit.db"
    script, cwd, env = installed["script"], installed["cwd"], installed["env"]
    loaded = run([script, "--db", db, "demo"], cwd=cwd, env=env)
    assert "Newham 2022: loaded 33 cases" in loaded.stdout, loaded.stdout

    summary = json.loads(
        run([script, "--db", db, "summary", "--round", NEWHAM["round"], "--format", "json"], cwd=cwd, env=env).stdout
    )
    assert summary["cases"] == NEWHAM["cases"]
    percentages = {
        kq["id"]: kq["percent"] for s in summary["standards"] for kq in s["key_questions"] if not kq["id"].startswith("2.1")
    }
    assert percentages == NEWHAM["percentages"]
    assert {s["id"]: s["rating"] for s in summary["standards"] if s["rated"]} == NEWHAM["ratings"]
    assert (summary["score"], summary["max_score"], summary["overall_rating"]) == (
        NEWHAM["score"],
        NEWHAM["max_score"],
        NEWHAM["overall_rating"],
    )

    frameworks = run([script, "frameworks", "list"], cwd=cwd, env=env).stdout
    for shipped in (REPO / "framework/definitions").glob("*.toml"):
        assert shipped.stem in frameworks, frameworks
    assert frameworks.count("shipped") >= 2, frameworks
