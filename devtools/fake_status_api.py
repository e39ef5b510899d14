"""A local stand-in for a department's application status API (the contract of ``casework.sources``).

Real HTTP on 127.0.0.1 (a thread of the test or script process), speaking the documented JSON
contract: ``GET /changes?since=&limit=`` and ``GET /applications/<number>``. It can be told to
fail (answer 503, or drop the connection) or to be slow for the next N requests, and counts
the requests it served, so tests can watch retries and the circuit breaker.

Run alone for manual trials::

    python -m devtools.fake_status_api --port 8765 [--token T]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class _Faults:
    fail: int = 0           # next N requests answer `fail_status`
    fail_status: int = 503
    drop: int = 0           # next N requests close the connection without an answer
    slow: int = 0           # next N requests wait `slow_s` before answering
    slow_s: float = 0.0


@dataclass
class FakeStatusApi:
    """The fake API's state: applications, the change log, the faults to inject, a request count."""

    token: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: _Faults = field(default_factory=_Faults)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # ------------------------------------------------------------ control
    def set_status(self, number: str, status: str, note: str = "", next_step: str | None = None) -> None:
        """Record a status change (it appears in ``/changes`` after the current last cursor)."""
        with self._lock:
            row = {"seq": len(self.changes) + 1, "number": number, "status": status, "note": note,
                   "next_step": next_step,
                   "changed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
            self.changes.append(row)
            self.applications[number] = {k: v for k, v in row.items() if k != "seq"}

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next ``n`` requests with HTTP ``status``."""
        with self._lock:
            self.faults.fail, self.faults.fail_status = n, status

    def drop_next(self, n: int) -> None:
        """Close the connection of the next ``n`` requests without answering."""
        with self._lock:
            self.faults.drop = n

    def slow_next(self, n: int, seconds: float) -> None:
        """Delay the next ``n`` answers by ``seconds``."""
        with self._lock:
            self.faults.slow, self.faults.slow_s = n, seconds

    # ------------------------------------------------------------- server
    @property
    def url(self) -> str:
        """Base URL of the running server."""
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self, port: int = 0) -> FakeStatusApi:
        """Serve on 127.0.0.1 (``port`` 0 = a free one) in a daemon thread."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
                return

            def do_GET(self) -> None:  # http.server names it so
                api._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-status-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests += 1
            f = self.faults
            drop, fail, slow = f.drop > 0, f.fail > 0, f.slow > 0
            f.drop, f.fail, f.slow = max(0, f.drop - 1), max(0, f.fail - 1), max(0, f.slow - 1)
            fail_status, slow_s = f.fail_status, f.slow_s
        if drop:
            req.close_connection = True
            req.connection.close()
            return
        if slow:
            time.sleep(slow_s)
        if fail:
            return self._send(req, fail_status, {"error": "unavailable"})
        if self.token and req.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(req, 401, {"error": "unauthorized"})
        parts = urlsplit(req.path)
        if parts.path == "/changes":
            query = parse_qs(parts.query)
            since = int((query.get("since") or ["0"])[0] or 0)
            limit = max(1, min(1000, int((query.get("limit") or ["100"])[0])))
            with self._lock:
                rows = [c for c in self.changes if c["seq"] > since][:limit]
                more = len(self.changes) > since + len(rows)
            out = [{k: v for k, v in c.items() if k != "seq"} for c in rows]
            cursor = str(rows[-1]["seq"]) if rows else str(since)
            return self._send(req, 200, {"changes": out, "next_cursor": cursor, "has_more": more})
        if parts.path.startswith("/applications/"):
            number = unquote(parts.path.split("/", 2)[2])
            with self._lock:
                app = self.applications.get(number)
            return self._send(req, 200, app) if app else self._send(req, 404, {"error": "not found"})
        return self._send(req, 404, {"error": "no such endpoint"})

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json; charset=utf-8")
            req.send_header("Content-Length", str(len(raw)))
            req.end_headers()
            req.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): nothing to do
            pass


def main(argv: list[str] | None = None) -> None:
    """Serve the fake API until interrupted."""
    parser = argparse.ArgumentParser(description="fake application status API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="")
    args = parser.parse_args(argv)
    api = FakeStatusApi(token=args.token).start(args.port)
    print(f"fake status API on {api.url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        api.stop()


if __name__ == "__main__":
    main()
