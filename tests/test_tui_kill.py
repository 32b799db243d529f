"""The real `caseaudit open` process in a pseudo-terminal, killed with SIGKILL:
every answer the screen showed as saved is in the database."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

from audit.store import AuditStore

ROOT = Path(__file__).resolve().parents[1]


def read_until(fd: int, buffer: bytearray, pattern: bytes, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, bytes(buffer)):
            return True
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return bool(re.search(pattern, bytes(buffer)))
            if not chunk:
                break
            buffer.extend(chunk)
    return bool(re.search(pattern, bytes(buffer)))


def test_sigkill_loses_no_answer_shown_as_saved(tmp_path):
    db = tmp_path / "kill.db"
    with AuditStore.open(db) as store:
        round_row = store.create_round("Kill test", "Test PDU", "hmip-probation-pdu-2021")
        store.upsert_case(round_row, "K100001", {})
    pid, fd = pty.fork()
    if pid == 0:  # child: the real command line, as an SPO would start it
        os.chdir(ROOT)
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
        os.execvpe(
            sys.executable,
            [sys.executable, "-m", "audit.cli", "--db", str(db), "open", "--round", "Kill test", "--case", "K100001"],
            env,
        )
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    buffer = bytearray()
    shown_saved: list[str] = []
    try:
        assert read_until(fd, buffer, rb"Case|K100001", timeout=30), bytes(buffer)[-2000:]
        time.sleep(0.5)
        with AuditStore.open(db) as store:
            questions = list(store.framework_for(store.round("Kill test")).question_ids)
        for question_id in questions[:12]:
            os.write(fd, b"y")
            marker = f"Saved {question_id}: Yes".encode()
            if read_until(fd, buffer, re.escape(marker), timeout=15):
                shown_saved.append(question_id)
        # a few more keys in flight when the kill lands
        os.write(fd, b"nnn")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    assert len(shown_saved) >= 10, bytes(buffer)[-3000:]
    with AuditStore.open(db) as store:
        case = store.case(store.round("Kill test"), "K100001")
        stored = store.answers_for_case(case["id"])
        integrity = store.db.execute("PRAGMA integrity_check").fetchone()[0]
    for question_id in shown_saved:
        assert stored[question_id]["value"] == "Yes", question_id
    assert integrity == "ok"
