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


async def shoot(db: Path) -> None:
    app = CaseAuditApp(db, round_name="Newham 2022", case_ref="N100101")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        app.save_screenshot("case-screen.svg", str(ROOT / "docs"))
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.save_screenshot("summary-screen.svg", str(ROOT / "docs"))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        with AuditStore.open(db) as store:
            list(load_demo(store))
        asyncio.run(shoot(db))
    print("docs/case-screen.svg, docs/summary-screen.svg")


if __name__ == "__main__":
    main()
