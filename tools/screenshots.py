"""Write the README's screenshots (SVG, via Textual's save_screenshot) into docs/.

.venv/bin/python tools/screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.demo import load_demo  # noqa: E402
from audit.store import AuditStore  # noqa: E402
from audit.tui.app import CaseAuditApp  # noqa: E402

SIZE = (80, 24)  # the terminal the TUI is laid out for


async def shoot(db: Path) -> None:
    docs = str(ROOT / "docs")
    app = CaseAuditApp(db, round_name="Newham 2022", auditor="A. Patel (SPO)")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#cases")
        table.move_cursor(table.get_row_index("N100255"))  # a case with a judgement to check
        await pilot.pause()
        app.save_screenshot("cases-screen.svg", docs)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("5")  # 2.5 Reviewing, where this case's judgement disagrees with its prompts
        await pilot.press(*"jjjjjjjj")  # down to its key question 2.5.2
        await pilot.pause()
        app.save_screenshot("case-screen.svg", docs)
        await pilot.press("h")
        await pilot.pause()
        app.save_screenshot("history-screen.svg", docs)
        await pilot.press("escape", "escape")
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("b", "a")  # the breakdown by sentence: community against licence / post-release
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        app.save_screenshot("summary-screen.svg", docs)


def shoot_report(db: Path, folder: Path) -> None:
    """The HTML report's first screen, as Chromium shows it (skipped, saying so, when there is no Chromium)."""
    import shutil
    import subprocess

    from audit.cli import main as caseaudit

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("no Chromium: docs/report-html.png left as it is")
        return
    page = folder / "report.html"
    assert caseaudit(["--db", str(db), "report", "--round", "Newham 2022", "-o", str(page)]) == 0
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,1400",
            f"--screenshot={ROOT / 'docs' / 'report-html.png'}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        with AuditStore.open(db) as store:
            list(load_demo(store))
            round_row = store.round("Newham 2022")
            store.record_note(round_row, "N100255", "2.5.2", "Review after the breach names no desistance work", auditor="spo.b")
        asyncio.run(shoot(db))
        shoot_report(db, Path(tmp))
    print("docs/cases-screen.svg, docs/case-screen.svg, docs/history-screen.svg, docs/summary-screen.svg, docs/report-html.png")


if __name__ == "__main__":
    main()
