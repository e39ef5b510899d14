"""A local stand-in for Twilio's Messages REST endpoint (the real wire format, on 127.0.0.1).

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` — form-encoded ``To``, ``From`` or
  ``MessagingServiceSid``, ``Body`` (``StatusCallback`` accepted); answers ``201`` with the
  Message resource JSON, or Twilio's error JSON (``21604`` no To, ``21602`` no Body,
  ``21211`` invalid To, ``21610`` the number replied STOP).
* ``GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` — the list (``To``, ``From``,
  ``PageSize`` filters), newest first, with Twilio's paging fields.
* ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` — one message.

HTTP Basic auth with the account sid and auth token, as the ``twilio`` client sends it. Point
the client at it with ``client.api.base_url = stand_in.url`` (or ``TWILIO_API_BASE_URL`` for
the outbox worker). Tests count what was accepted (:attr:`FakeTwilioRest.messages`) and can
stall a request *before* it is accepted (the caller killed before the provider has the
message: it is then dropped) or *after* it is accepted (killed before it hears the sid).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "0" * 30 + "fa"
AUTH_TOKEN = "fake-twilio-auth-token-for-local-tests"
API_VERSION = "2010-04-01"
_LIST = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>AC[0-9a-f]{{32}})/Messages\.json$")
_ONE = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>AC[0-9a-f]{{32}})/Messages/(?P<sid>SM[0-9a-f]{{32}})\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass
class FakeTwilioRest:
    """State of the stand-in; safe to use from the test thread.

    Attributes:
        messages: accepted Message resources, oldest first.
        stopped: numbers that replied STOP (sends to them answer error 21610).
        stall_before_accept / stall_after_accept: how many next POSTs to hold (before recording
            them / after recording them, before answering) until :attr:`release` is set.
        latency_s: (min, max) random delay before and after accepting each POST (benchmarks).
    """

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    url: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    stopped: set[str] = field(default_factory=set)
    stall_before_accept: int = 0
    stall_after_accept: int = 0
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    latency_s: tuple[float, float] = (0.0, 0.0)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def bodies_to(self, number: str) -> list[str]:
        """Bodies of the messages accepted for ``number``."""
        with self.lock:
            return [m["body"] for m in self.messages if m["to"] == number]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until ``count`` messages were accepted (fails the test on timeout)."""
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.messages) < count:
            time.sleep(0.05)
        assert len(self.messages) >= count, f"expected {count} messages, got {len(self.messages)}"
        return list(self.messages)

    # -- resources -----------------------------------------------------------------------------
    def _resource(self, to: str, sender: str, service: str | None, body: str) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(time.time(), usegmt=True).replace("GMT", "+0000")
        ucs2 = any(ord(c) > 127 for c in body)
        per_part = (70, 67) if ucs2 else (160, 153)
        units = len(body.encode("utf-16-le")) // 2 if ucs2 else len(body)
        segments = 1 if units <= per_part[0] else -(-units // per_part[1])
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        return {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": sender or None,
            "messaging_service_sid": service, "num_media": "0", "num_segments": str(segments),
            "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")}, "to": to, "uri": uri,
            "_seq": next(self._seq),
        }

    @staticmethod
    def public(message: dict[str, Any]) -> dict[str, Any]:
        """The resource as Twilio returns it (without the stand-in's bookkeeping)."""
        return {k: v for k, v in message.items() if not k.startswith("_")}

    def create(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Accept one message (the POST's semantics); returns ``(status, json)``."""
        to, body = form.get("To", ""), form.get("Body", "")
        sender, service = form.get("From", ""), form.get("MessagingServiceSid")
        if not to:
            return 400, _error(21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return 400, _error(21211, f"The 'To' number {to} is not a valid phone number.")
        if not body:
            return 400, _error(21602, "Message body is required.")
        if not (sender or service):
            return 400, _error(21603, "The 'From' phone number is required.")
        if to in self.stopped:
            return 400, _error(21610, "Attempt to send to unsubscribed recipient")
        message = self._resource(to, sender, service, body)
        with self.lock:
            self.messages.append(message)
        return 201, self.public(message)

    def listing(self, query: dict[str, str]) -> dict[str, Any]:
        """The list resource (newest first) filtered like Twilio's ``To``/``From`` parameters."""
        size = max(1, min(1000, int(query.get("PageSize") or 50)))
        with self.lock:
            found = [m for m in reversed(self.messages)
                     if (not query.get("To") or m["to"] == query["To"])
                     and (not query.get("From") or m["from"] == query["From"])]
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        return {"messages": [self.public(m) for m in found[:size]], "end": min(size, len(found)) - 1,
                "first_page_uri": f"{base}?PageSize={size}&Page=0", "next_page_uri": None, "page": 0,
                "page_size": size, "previous_page_uri": None, "start": 0, "uri": f"{base}?PageSize={size}&Page=0"}

    def one(self, sid: str) -> dict[str, Any] | None:
        """One message by sid."""
        with self.lock:
            return next((self.public(m) for m in self.messages if m["sid"] == sid), None)

    # -- stalls --------------------------------------------------------------------------------
    def _take_stall(self, which: str) -> bool:
        with self.lock:
            left = getattr(self, which)
            if left <= 0:
                return False
            setattr(self, which, left - 1)
        self.stalled.set()
        self.release.wait()
        return True

    def _latency(self) -> None:
        low, high = self.latency_s
        if high > 0:
            time.sleep(random.uniform(low, high))


def _error(code: int, message: str, status: int = 400) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


def _handler(api: FakeTwilioRest) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, data: dict[str, Any]) -> None:
            raw = json.dumps(data).encode()
            try:
                self.send_response(status)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            try:
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):  # the caller was killed while waiting
                self.close_connection = True

        def _authorised(self, account: str) -> bool:
            expected = base64.b64encode(f"{api.account_sid}:{api.auth_token}".encode()).decode()
            if account != api.account_sid or self.headers.get("Authorization", "") != f"Basic {expected}":
                self._send(401, _error(20003, "Authenticate", 401))
                return False
            return True

        def do_POST(self) -> None:  # http.server hook
            path = urlsplit(self.path).path
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            match = _LIST.match(path)
            if not match:
                self._send(404, _error(20404, "The requested resource was not found", 404))
                return
            if not self._authorised(match["account"]):
                return
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            api._latency()
            if api._take_stall("stall_before_accept"):
                self.close_connection = True  # the caller is gone: the provider never accepted it
                return
            status, data = api.create(form)
            if status == 201 and api._take_stall("stall_after_accept"):
                self.close_connection = True  # accepted, but the caller died before hearing the sid
                return
            api._latency()
            self._send(status, data)

        def do_GET(self) -> None:  # http.server hook
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            match = _LIST.match(parts.path) or _ONE.match(parts.path)
            if not match:
                self._send(404, _error(20404, "The requested resource was not found", 404))
                return
            if not self._authorised(match["account"]):
                return
            if "sid" in match.groupdict():
                found = api.one(match["sid"])
                if found is None:
                    self._send(404, _error(20404, "The requested resource was not found", 404))
                else:
                    self._send(200, found)
                return
            self._send(200, api.listing(query))

    return Handler


@contextlib.contextmanager
def serve(api: FakeTwilioRest | None = None) -> Iterator[FakeTwilioRest]:
    """Serve ``api`` (default: a new one) on a free loopback port from a background thread."""
    api = api or FakeTwilioRest()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
