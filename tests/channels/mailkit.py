"""Fixtures of the mailbox tests: a real Dovecot IMAP server, a real aiosmtpd SMTP server, a recording relay.

The recording relay speaks the core's relay protocol over HTTP (``POST
/webhooks/mail/webhook``) and records every call, so tests can assert what the worker
asked the core and how often (each question once, even across a SIGKILL). Dialogue
behaviour itself is tested against the real Rasa core in ``test_mail_e2e.py``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devtools.dovecot import DovecotServer, dovecot_unavailable_reason
from devtools.supervisor import free_port

MAILBOX_USER = "12345@citizen.example.test"
MAILBOX_PASSWORD = "imap-test-password"


# -- SMTP ------------------------------------------------------------------------------------
@dataclass
class SmtpRecorder:
    """aiosmtpd handler recording accepted mails; ``stall_next`` holds the next DATA until released."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    stall_next: bool = False
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd hook
        if self.stall_next:
            self.stall_next = False
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 Temporary failure, try again later"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[EmailMessage]:
        """Wait until ``count`` mails were accepted (fails the test on timeout)."""
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.messages) < count:
            time.sleep(0.05)
        assert len(self.messages) >= count, f"expected {count} mails, got {len(self.messages)}"
        return self.messages


@dataclass
class SmtpServer:
    """A running aiosmtpd server."""

    host: str
    port: int
    recorder: SmtpRecorder


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 recording what it accepts."""
    from aiosmtpd.controller import Controller

    recorder = SmtpRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpServer("127.0.0.1", port, recorder)
    recorder.release.set()
    controller.stop()


# -- IMAP ------------------------------------------------------------------------------------
@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[DovecotServer]:
    """A throw-away Dovecot with the citizen mailbox user."""
    reason = dovecot_unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = DovecotServer(tmp_path / "dovecot", {MAILBOX_USER: MAILBOX_PASSWORD})
    server.start()
    yield server
    server.stop()


def deliver(server: DovecotServer, raw: bytes, folder: str = "INBOX") -> None:
    """Put a mail into the mailbox (IMAP APPEND, as a delivery agent would)."""
    from imapclient import IMAPClient

    with IMAPClient(server.host, port=server.port, ssl=False, timeout=10) as client:
        client.login(MAILBOX_USER, MAILBOX_PASSWORD)
        client.append(folder, raw)


def mailbox_state(server: DovecotServer, folder: str = "INBOX") -> dict[int, set[bytes]]:
    """UID → flags of every mail in ``folder`` ({} when the folder does not exist)."""
    from imapclient import IMAPClient

    with IMAPClient(server.host, port=server.port, ssl=False, timeout=10) as client:
        client.login(MAILBOX_USER, MAILBOX_PASSWORD)
        if not client.folder_exists(folder):
            return {}
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        return {uid: set(flags) for uid, flags in client.get_flags(uids).items()} if uids else {}


def mail_env(dovecot: DovecotServer, smtp: SmtpServer, rasa_url: str, channels_db: str) -> dict[str, str]:
    """The environment the mailbox worker needs for these servers."""
    return {
        "MAIL_IMAP_HOST": dovecot.host, "MAIL_IMAP_PORT": str(dovecot.port), "MAIL_IMAP_USER": MAILBOX_USER,
        "MAIL_IMAP_PASSWORD": MAILBOX_PASSWORD, "MAIL_IMAP_SSL": "false", "MAIL_IMAP_FOLDER": "INBOX",
        "MAIL_SMTP_HOST": smtp.host, "MAIL_SMTP_PORT": str(smtp.port), "MAIL_SMTP_STARTTLS": "false",
        "MAIL_SMTP_FROM": f"市民服务助手 <{MAILBOX_USER}>", "MAIL_POLL_S": "0.5",
        "RASA_URL": rasa_url, "CHANNELS_DB_URL": channels_db, "CORE_TIMEOUT": "30",
    }


# -- recording relay -------------------------------------------------------------------------
@dataclass
class RecordingRelay:
    """Speaks the core relay protocol; answers deterministically and records each call.

    Answers: a payload (``/affirm``) is acknowledged; a message containing 预约 gets two
    buttons; anything else is answered with ``答复：<message>``. ``down`` answers 503 to
    everything (readiness included); ``fail_posts`` makes that many messages fail with 503
    while the readiness route still says ready (the core going away after a check), and
    ``fail_from`` makes every message fail once that many were answered.
    """

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    fail_posts: int = 0
    fail_from: int | None = None
    failed: int = 0
    ready_checks: int = 0

    def answer(self, message: str) -> list[dict[str, Any]]:
        """The relay's deterministic answer to ``message``."""
        if "长答复" in message:
            return [{"recipient_id": "x", "text": "这是一段很长的办事指南说明。" * 400}]
        if "触发错误" in message:
            return [{"recipient_id": "x", "text": "FAIL_SEND"}]
        if message.startswith("/"):
            return [{"recipient_id": "x", "text": f"已收到您的选择 {message}"}]
        if "预约" in message:
            return [{"recipient_id": "x", "text": "请确认预约信息：",
                     "buttons": [{"title": "确认预约", "payload": "/affirm"}, {"title": "取消", "payload": "/deny"}]}]
        return [{"recipient_id": "x", "text": f"答复：{message}"}]


@pytest.fixture
def relay() -> Iterator[RecordingRelay]:
    """A recording relay on a free loopback port."""
    state = RecordingRelay()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server hook
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if state.down or state.fail_posts > 0 or (state.fail_from is not None
                                                      and len(state.calls) >= state.fail_from):
                state.fail_posts = max(0, state.fail_posts - 1)
                state.failed += 1
                self.send_response(503)
                self.end_headers()
                return
            state.calls.append({"path": self.path, **body})
            data = json.dumps(state.answer(body.get("message", "")), ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # http.server hook: the relay's readiness route
            if not self.path.endswith("/ready"):
                self.send_response(404)
                self.end_headers()
                return
            state.ready_checks += 1
            data = json.dumps({"status": "loading" if state.down else "ready"}).encode()
            self.send_response(503 if state.down else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def citizen_mail(body: str, *, subject: str = "咨询", sender: str = "zhang.san@example.cn",
                 message_id: str | None = None, charset: str = "utf-8", html: str | None = None,
                 headers: dict[str, str] | None = None) -> bytes:
    """A citizen's mail as raw bytes."""
    msg = EmailMessage()
    msg["From"] = f"张三 <{sender}>"
    msg["To"] = MAILBOX_USER
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body, charset=charset)
    if html is not None:
        msg.add_alternative(html, subtype="html", charset=charset)
    return msg.as_bytes()
