"""``caseaudit serve``: the TUI in a browser through textual-serve, admitting only its own user.

textual-serve (aiohttp) has no authentication and checks neither Origin nor Host, so any web page
open in the same browser could drive the app on 127.0.0.1, and a DNS-rebinding page could too.
Here, as Jupyter does:
- a random token is made at each launch and printed in the URL, and every route (the page, its static
  files, its WebSocket, downloads) lives under the path prefix ``/TOKEN/``: the page's own URLs carry the
  token, and nothing else is served. No cookie is set: a browser sends a 127.0.0.1 cookie to every port
  of 127.0.0.1 (cookies are not separated by port), so a cookie would hand the token to any other
  local server the user visits;
- every HTTP request and WebSocket must name this server in ``Host`` (127.0.0.1:PORT or
  localhost:PORT), and ``Origin``, when sent, must be that same origin; anything else is 403;
- the page loads nothing from other hosts (textual-serve's template fetches a web font);
- a malformed request (over-long line or header, missing or repeated Host, too many headers, a control
  byte) is answered 400 and logged as one line naming only the kind of error, never a traceback and
  never the request's bytes (which may hold the token); a WebSocket request without ``Upgrade`` is 400;
- every session's app process is started with CASEAUDIT_ASK_AUDITOR=1 (the app asks who is
  auditing), or, behind a single-sign-on proxy (``--auditor-header``), with the name from that
  trusted header; a connection without it is refused.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import secrets
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from audit.errors import CaseauditError

ASK_AUDITOR_ENV = "CASEAUDIT_ASK_AUDITOR"
# textual-serve's script fetches downloads from the server's root; here they live under the token prefix
_DOWNLOAD_JS = "${window.location.origin}/download/"
_DOWNLOAD_JS_PREFIXED = "${window.location.origin}${window.location.pathname.replace(/[^/]*$/, '')}download/"

log = logging.getLogger("caseaudit.serve")


def app_command(db: Path, *, auditor: str | None = None, python: str | None = None) -> str:
    """The shell command textual-serve runs for one browser session (it runs it through a shell,
    so every part is quoted). Without a trusted auditor name the app asks who is auditing."""
    parts = [python or sys.executable, "-m", "audit.cli", "--db", str(db)]
    if auditor is not None:
        parts.append(f"--auditor={auditor}")  # one word: a name starting with '-' stays the option's value
        # the trusted name is used, not merely offered, whatever CASEAUDIT_ASK_AUDITOR the server has
        return f"{ASK_AUDITOR_ENV}=0 " + " ".join(shlex.quote(part) for part in parts)
    # the server's own CASEAUDIT_AUDITOR is cleared: a browser session is never offered the server's name
    return f"{ASK_AUDITOR_ENV}=1 CASEAUDIT_AUDITOR= " + " ".join(shlex.quote(part) for part in parts)


def bind_socket(port: int) -> socket.socket:
    """Bind 127.0.0.1:PORT now, so a port in use or out of range is one clear line, and port 0
    gives the real port before anything is printed."""
    if not 0 <= port <= 65535:
        raise CaseauditError(f"port {port} is out of range; use 1-65535 (or 0 for any free port)")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise CaseauditError(
                f"port {port} on 127.0.0.1 is already in use; choose another with --port (0: any free port)"
            ) from None
        if error.errno == errno.EACCES:
            raise CaseauditError(f"port {port} needs special privileges; choose one above 1023 with --port") from None
        raise CaseauditError(f"cannot listen on 127.0.0.1:{port} ({error.strerror})") from None
    sock.setblocking(False)
    return sock


def _valid_auditor(name: str) -> bool:
    return bool(name.strip()) and len(name) <= 200 and name.isprintable()


class _OneLine(logging.Formatter):
    """Log records as one line: an exception is named by its kind only. aiohttp logs a malformed request
    with a traceback whose message repeats the request's bytes (which may hold the token)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            if record.name.startswith("aiohttp"):
                message = f"refused a malformed request ({type(error).__name__})"
            else:
                message = f"{message} ({type(error).__name__})"
        message = "".join(c if c.isprintable() else "?" for c in message)[:200]
        return f"caseaudit serve: {message}"

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return ""

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return ""


def make_server(db: Path, sock: socket.socket, *, auditor_header: str | None = None, token: str | None = None):
    """The guarded textual-serve Server, serving on ``sock``."""
    import aiohttp_jinja2
    import jinja2
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    port = sock.getsockname()[1]
    secret = token or secrets.token_urlsafe(32)
    prefix = f"/{secret}"
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    templates = Path(__file__).with_name("templates")

    class GuardedServer(Server):
        def __init__(self) -> None:
            super().__init__(app_command(db), host="127.0.0.1", port=port, title="caseaudit")
            self.token: str = secret
            self.sessions: set[Any] = set()

        def initialize_logging(self) -> None:  # no banner, no tracebacks: one line per problem
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(_OneLine())
            root = logging.getLogger()
            for old in list(root.handlers):
                root.removeHandler(old)
            root.addHandler(handler)
            root.setLevel(logging.WARNING)

        async def on_startup(self, app) -> None:
            return None

        async def on_shutdown(self, app) -> None:
            for service in list(self.sessions):
                try:
                    await service.stop()
                except Exception:  # noqa: BLE001 - a session ending on its own meanwhile
                    pass

        def _admitted(self, request) -> str | None:
            """None when the request may pass, else why it is refused."""
            host = request.headers.get("Host", "")
            if host not in hosts:
                return "wrong host"
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"http://{host}":
                return "foreign origin"
            offered = request.path.split("/")[1]  # the first path segment: "/TOKEN/..."
            if not hmac.compare_digest(offered.encode(), self.token.encode()):
                return "no valid token"
            if auditor_header is not None and not _valid_auditor(request.headers.get(auditor_header, "")):
                return f"no {auditor_header} header"
            return None

        @web.middleware
        async def guard(self, request, handler):
            hosts_sent = request.headers.getall("Host", [])
            if len(hosts_sent) != 1:  # HTTP/1.1 requires exactly one
                return web.Response(status=400, text="400 Bad Request: one Host header is required\n")
            refusal = self._admitted(request)
            if refusal is not None:
                return web.Response(status=403, text=f"403 Forbidden: {refusal}\n")
            response = await handler(request)
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("Referrer-Policy", "no-referrer")
            return response

        async def _make_app(self):
            app = web.Application(middlewares=[self.guard])
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(templates))
            app.add_routes(
                [  # everything under the secret prefix; the guard refuses every other path
                    web.get(prefix, self.handle_slash),
                    web.get(f"{prefix}/", self.handle_index, name="index"),
                    web.get(f"{prefix}/ws", self.handle_websocket, name="websocket"),
                    web.get(f"{prefix}/download/{{key}}", self.handle_download, name="download"),
                    web.get(f"{prefix}/static/js/textual.js", self.handle_script, name="script"),
                    web.static(f"{prefix}/static", self.statics_path, show_index=False, name="static"),
                ]
            )
            app.on_startup.append(self.on_startup)
            app.on_shutdown.append(self.on_shutdown)
            return app

        async def handle_slash(self, request):
            raise web.HTTPFound(f"{prefix}/")  # the address without its final slash (the guard checked the token)

        async def handle_script(self, request):
            """textual-serve's script, fetching downloads under this page's path (the token prefix)."""
            script = (Path(self.statics_path) / "js" / "textual.js").read_text(encoding="utf-8")
            if _DOWNLOAD_JS not in script:  # a textual-serve that changed: downloads would miss the prefix
                log.warning("textual-serve's script has changed; downloads from the browser may not work")
            script = script.replace(_DOWNLOAD_JS, _DOWNLOAD_JS_PREFIXED)
            return web.Response(text=script, content_type="application/javascript")

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request) -> dict[str, Any]:
            base = f"http://{request.headers['Host']}"  # checked by the guard
            try:
                font_size = max(6, min(int(request.query.get("fontsize", "16")), 48))
            except ValueError:
                font_size = 16
            return {
                "font_size": font_size,
                "app_websocket_url": f"ws://{request.headers['Host']}{prefix}/ws",
                "config": {"static": {"url": f"{base}{prefix}/static/"}},
                "application": {"name": self.title},
            }

        async def handle_websocket(self, request):
            command = self.command
            if auditor_header is not None:
                command = app_command(db, auditor=request.headers[auditor_header].strip())
            websocket = web.WebSocketResponse(heartbeat=15)
            if not websocket.can_prepare(request).ok:  # a plain GET, no Upgrade: nothing to close
                return web.Response(status=400, text="400 Bad Request: a WebSocket upgrade is required\n")
            try:
                width = max(20, min(int(request.query.get("width", "80")), 1000))
                height = max(5, min(int(request.query.get("height", "24")), 1000))
            except ValueError:
                width, height = 80, 24
            service = None
            try:
                await websocket.prepare(request)
                service = AppService(
                    command,
                    write_bytes=websocket.send_bytes,
                    write_str=websocket.send_str,
                    close=websocket.close,
                    download_manager=self.download_manager,
                    debug=False,
                )
                self.sessions.add(service)
                await service.start(width, height)
                await self._process_messages(websocket, service)
            except (asyncio.CancelledError, ConnectionError):
                pass
            except Exception as error:  # noqa: BLE001 - one session's failure must not end the server
                log.warning("a browser session ended: %s", error)
            finally:
                if service is not None:
                    self.sessions.discard(service)
                    try:
                        await service.stop()
                    except Exception:  # noqa: BLE001
                        pass
                if not websocket.closed:
                    await websocket.close()
            return websocket

    return GuardedServer()


def serve(db: Path, port: int, *, auditor_header: str | None = None) -> int:
    """Serve until Ctrl+C or SIGTERM; prints the URL (with its token) once listening."""
    from aiohttp import web

    sock = bind_socket(port)
    server = make_server(db, sock, auditor_header=auditor_header)
    server.initialize_logging()
    real_port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{real_port}/{server.token}/"

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        runner = web.AppRunner(await server._make_app(), handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.SockSite(runner, sock)
            await site.start()
            who = (
                f"the auditor's name comes from the {auditor_header} header"
                if auditor_header
                else "each session asks who is auditing"
            )
            print(f"Serving caseaudit on http://127.0.0.1:{real_port} (this computer only; {who}).", flush=True)
            print(f"Open this address (it holds this launch's secret token; do not share it):\n    {url}", flush=True)
            print("Press Ctrl+C to stop.", flush=True)
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(run())
    print("caseaudit serve: stopped.", flush=True)
    return 0
