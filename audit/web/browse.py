"""``caseaudit browse``: the database in Datasette, read-only, admitting only its own user.

Datasette (the optional extra ``caseaudit[browse]``) shows every table and the views made for reading
(``answer_sheet``, ``case_progress``, ``notes``, ``judgement_checks``: see audit/store/views.py), with
filters, facets, SQL queries and CSV/JSON downloads. Here:

- every connection to the file is SQLite's ``mode=ro`` with ``PRAGMA query_only``, Datasette's own
  "write" connection too, so nothing Datasette or a plugin does can change the database (``immutable``
  is not used: it would ignore what other auditors commit into the write-ahead log meanwhile);
- it listens on 127.0.0.1 only and admits only its user as ``caseaudit serve`` does: a random token made
  at each launch is the path prefix of every page (Datasette's ``base_url``, so its own links carry it);
  ``Host`` must name this server and ``Origin``, when sent, must be this server; no cookie is ever set
  (a browser sends a 127.0.0.1 cookie to every port of 127.0.0.1); ``Referrer-Policy: no-referrer`` keeps
  the token out of links followed from a page.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from audit.errors import CaseauditError

MISSING_DATASETTE = "caseaudit browse needs Datasette, which is not installed; install it with: pip install 'caseaudit[browse]'"

# what each view and table is, for a QA lead reading Datasette's pages
VIEW_DESCRIPTIONS = {
    "answer_sheet": "Every answer and note, one row per case and question, with the question's text from the framework.",
    "case_progress": "Each case: how many questions are answered, its status, notes, and whether it is counted "
    "(reserves and swapped-out cases are listed but not counted).",
    "notes": "Every note an auditor wrote, with its question.",
    "judgement_checks": "Key-question judgements that contradict every relevant prompt (Yes with every prompt No, or "
    "the reverse): a warning to look again, never a block.",
}
TABLE_DESCRIPTIONS = {
    "rounds": "Audit rounds: unit, pinned framework and version, finalised or not.",
    "cases": "Cases by reference (never a name), their attributes and how each was drawn in the sample.",
    "answers": "The current answer to each question of each case (a cleared answer keeps its row, with no value).",
    "answer_history": "Every change to an answer, note or reason: who, when, old and new (append-only).",
    "attribute_history": "Every change to a case attribute or sample status, with the reason for a swap (append-only).",
    "domain_ratings": "Judgement ratings of the organisational standards, with evidence and any override reason.",
    "rating_history": "Every change to a judgement rating (append-only).",
    "round_events": "Rounds finalised, reopened, renamed and merged (append-only).",
    "conflicts": "Answers two merged copies disagreed on, and how each was settled.",
    "framework_questions": "The question texts of each framework version a round uses, copied from its definition.",
}
COLUMN_DESCRIPTIONS = {
    "answer_sheet": {
        "kind": "prompt, data item or key question (the judgement)",
        "value": "Yes, No or Not applicable",
        "reason": "why Not applicable",
        "answered_at": "UTC",
    },
    "case_progress": {
        "counted": "1 when the figures count the case (the main sample and reserves swapped in)",
        "answered": "questions answered",
        "questions": "questions in the round's framework",
    },
    "judgement_checks": {"relevant_prompts": "prompts answered Yes or No, every one the opposite of the judgement"},
}
HIDDEN_TABLES = ("settings", "_sqlite_migrations")  # the de-identification salt; the migration record


def _refuse_hidden_tables(action: int, table: str | None, column: str | None, _database, _trigger) -> int:
    """SQLite's authorizer on every browse connection: reading a setting's value (the salt that makes de-identified
    case references reversible) is refused whatever the route: table page, JSON, CSV, row page or arbitrary SQL.
    Its key stays readable: the answer triggers ask whether a bulk write has set them aside."""
    import sqlite3

    if action == sqlite3.SQLITE_READ and table == "settings" and column != "key":
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def browse_metadata(name: str, db_path: Path) -> dict[str, Any]:
    """Datasette's metadata: titles and descriptions for the database, its tables and views."""
    tables: dict[str, Any] = {}
    for table, description in {**TABLE_DESCRIPTIONS, **VIEW_DESCRIPTIONS}.items():
        tables[table] = {"description": description}
        if table in COLUMN_DESCRIPTIONS:
            tables[table]["columns"] = COLUMN_DESCRIPTIONS[table]
    for table in HIDDEN_TABLES:
        tables[table] = {"hidden": True}
    return {
        "title": f"caseaudit: {db_path.name}",
        "description": "The audit database, read-only. Start with answer_sheet, case_progress, notes or judgement_checks.",
        "databases": {
            name: {"title": db_path.name, "description": "Rounds, cases, answers and their history.", "tables": tables}
        },
    }


def make_datasette(db_path: Path, *, token: str):
    """A Datasette over the database, read-only, with every page under ``/TOKEN/``."""
    try:
        from datasette.app import Datasette
        from datasette.database import Database
    except ImportError:
        raise CaseauditError(MISSING_DATASETTE) from None
    import datasette.handle_exception

    # Datasette prints every error it answers (a 404, a refused query) to the terminal as a rich traceback with
    # local variables, and outside an except block that printing itself fails with a 500. The page it sends
    # says what went wrong; nothing is printed.
    datasette.handle_exception.rich = None

    class ReadOnlyDatabase(Database):
        def connect(self, write=False):
            """Every connection read-only, the one Datasette would write through too."""
            conn = sqlite3.connect(f"{Path(self.path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only = 1")
            conn.set_authorizer(_refuse_hidden_tables)  # hidden from the lists is not enough: no query reads them
            self._all_file_connections.append(conn)
            return conn

    name = db_path.stem
    ds = Datasette(
        metadata=browse_metadata(name, db_path),
        settings={"base_url": f"/{token}/", "allow_download": False, "sql_time_limit_ms": 5000},
    )
    ds.add_database(ReadOnlyDatabase(ds, path=str(db_path), is_mutable=True), name=name)
    return ds


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def guarded(app, *, token: str, port: int):
    """The ASGI app behind the checks ``caseaudit serve`` makes: the token as the first path segment, this
    server in ``Host`` (and ``Origin``); responses set no cookie and send no referrer."""
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    async def respond(send: Send, status: int, text: str, headers: list | None = None) -> None:
        body = text.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
                + (headers or []),
            }
        )
        await send({"type": "http.response.body", "body": body})

    def refusal(scope: Scope) -> tuple[int, str] | None:
        hosts_sent = [value for key, value in scope.get("headers", []) if key == b"host"]
        if len(hosts_sent) != 1:
            return 400, "400 Bad Request: one Host header is required\n"
        host = hosts_sent[0].decode("latin-1")
        if host not in hosts:
            return 403, "403 Forbidden: wrong host\n"
        origins = [value.decode("latin-1") for key, value in scope.get("headers", []) if key == b"origin"]
        if any(origin != f"http://{host}" for origin in origins):
            return 403, "403 Forbidden: foreign origin\n"
        raw = scope.get("raw_path") or scope.get("path", "").encode()
        offered = raw.split(b"?")[0].split(b"/")[1] if raw.startswith(b"/") else b""
        if not hmac.compare_digest(offered, token.encode()):
            return 403, "403 Forbidden: no valid token\n"
        return None

    async def guard(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            return
        if scope["type"] != "http":  # Datasette uses no WebSocket
            await send({"type": "websocket.close", "code": 1008})
            return
        problem = refusal(scope)
        if problem is not None:
            await respond(send, *problem)
            return
        prefix = f"/{token}"
        if scope["path"] == prefix:  # the address without its final slash
            await respond(send, 302, "", [(b"location", f"{prefix}/".encode())])
            return
        # Datasette sees its paths without the token and puts it back in every link (its base_url)
        scope = dict(scope, path=scope["path"][len(prefix) :], raw_path=(scope.get("raw_path") or b"")[len(prefix) :] or None)

        async def send_guarded(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"set-cookie", b"cache-control", b"referrer-policy")
                ]
                headers += [(b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer")]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_guarded)

    return guard


def browse(db_path: Path, port: int) -> int:
    """Serve the database in Datasette until Ctrl+C; prints the address (with its token) once listening."""
    from audit.web.serve import bind_socket

    token = secrets.token_urlsafe(32)
    ds = make_datasette(db_path, token=token)  # Datasette missing: one line, before a port is taken
    import uvicorn

    sock = bind_socket(port)
    real_port = sock.getsockname()[1]
    config = uvicorn.Config(guarded(ds.app(), token=token, port=real_port), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    url = f"http://127.0.0.1:{real_port}/{token}/"
    print(f"Browsing {db_path} in Datasette, read-only, on http://127.0.0.1:{real_port} (this computer only).", flush=True)
    print(f"Open this address (it holds this launch's secret token; do not share it):\n    {url}", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        sock.close()
    print("caseaudit browse: stopped.", flush=True)
    return 0
