"""Web chat blueprint against a real local fake of the Rasa web chat relay."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from channels.webchat.relay import UNAVAILABLE_TEXT, ChatSettings
from server import create_app

CJK = re.compile(r"[\u4e00-\u9fff]")

CANNED = [
    {"recipient_id": "webchat-abc", "text": "您好！可以为您预约：\n1. 周一上午\n2. 周二下午",
     "buttons": [{"title": "确认预约", "payload": "/affirm"}, {"title": "取消", "payload": "/deny"}]},
    {"recipient_id": "webchat-abc", "custom": {"handoff": True}},
]


@dataclass
class FakeRelay:
    """What the fake core received and how it answers."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    reply: Any = field(default_factory=lambda: CANNED)
    status: int = 200
    raw_body: bytes | None = None
    delay: float = 0.0
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def fake_rasa(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRelay]:
    """A tiny HTTP server on 127.0.0.1 standing in for ``POST /webhooks/webchat/webhook``."""
    state: FakeRelay

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            if state.delay:
                state.release.wait(state.delay)
            payload = state.raw_body if state.raw_body is not None else json.dumps(state.reply).encode()
            try:
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the app server gave up waiting, as it should

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = FakeRelay(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("RASA_URL", state.url)
    monkeypatch.delenv("RELAY_TOKEN", raising=False)
    monkeypatch.delenv("CHAT_TIMEOUT", raising=False)
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("RASA_URL", "RASA_PORT", "RELAY_TOKEN", "CHAT_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return create_app({"TESTING": True}).test_client()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(client: Any, **body: Any) -> Any:
    return client.post("/chat/api/message", json=body)


# --- the page -----------------------------------------------------------------------------


def test_page_is_served_in_chinese_with_input_and_send_button(client):
    res = client.get("/chat/")
    assert res.status_code == 200 and res.mimetype == "text/html"
    html = res.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert '<textarea id="input"' in html and ">发送</button>" in html and "新对话" in html
    assert "sessionStorage" not in html and "api/session" in html and "网络或服务暂时不可用，请稍后再试，或拨打12345" in html


def test_page_loads_nothing_from_other_hosts(client):
    html = client.get("/chat/").get_data(as_text=True)
    assert re.findall(r"https?://", html) == []
    assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet|@import|url\(", html)


def test_page_renders_message_text_only_through_text_content(client):
    html = client.get("/chat/").get_data(as_text=True)
    assert "textContent" in html
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html


def test_page_scripts_run_only_under_a_per_request_nonce(client):
    first, second = client.get("/chat/"), client.get("/chat/")
    nonce = re.search(r"script-src 'nonce-([^']+)'", first.headers["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}">' in first.get_data(as_text=True)
    assert nonce not in second.headers["Content-Security-Policy"]
    assert "default-src 'none'" in first.headers["Content-Security-Policy"]


def test_chat_without_trailing_slash_redirects_to_the_page(client):
    res = client.get("/chat")
    assert res.status_code in (301, 308) and res.headers["Location"].endswith("/chat/")


# --- input validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "empty_message"),
        ({"message": ""}, "empty_message"),
        ({"message": " \n\t　"}, "empty_message"),
        ({"message": ["你好"]}, "empty_message"),
        ({"message": 123}, "empty_message"),
        ({"message": "长" * 2001}, "message_too_long"),
    ],
)
def test_invalid_input_is_refused_with_a_chinese_message_and_not_forwarded(client, fake_rasa, body, code):
    res = post(client, **body)
    assert res.status_code == 400
    assert res.get_json()["error"] == code and CJK.search(res.get_json()["message"])
    assert fake_rasa.received == []


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '"text"'])
def test_a_body_that_is_not_a_json_object_is_refused(client, fake_rasa, data):
    res = client.post("/chat/api/message", data=data, content_type="application/json")
    assert res.status_code == 400 and res.get_json()["error"] == "bad_request"
    assert CJK.search(res.get_json()["message"]) and fake_rasa.received == []


def test_a_form_post_from_another_site_is_refused(client, fake_rasa):
    # Cross-site pages can only send "simple" content types without a CORS preflight.
    res = client.post("/chat/api/message", data='{"sender": "abc", "message": "hi"}', content_type="text/plain")
    assert res.status_code == 400 and fake_rasa.received == []


def test_limits_apply_after_stripping_and_at_the_boundary(client, fake_rasa):
    assert post(client, message="  " + "长" * 2000 + "\n").status_code == 200
    assert fake_rasa.received[0]["json"]["message"] == "长" * 2000


# --- forwarding -----------------------------------------------------------------------------


def test_message_is_forwarded_to_the_webchat_relay_and_the_answer_passed_through(client, fake_rasa):
    res = post(client, message="  我想预约办社保卡 ")
    assert res.status_code == 200
    assert res.get_json() == {"messages": CANNED}
    [got] = fake_rasa.received
    assert got["path"] == "/webhooks/webchat/webhook"
    assert re.fullmatch(r"webchat-[0-9a-f]{32}", got["json"]["sender"])
    assert got["json"]["message"] == "我想预约办社保卡"
    assert got["json"]["metadata"] == {"channel": "webchat", "client_address": "127.0.0.1"}
    assert "X-Relay-Token" not in got["headers"]
    assert got["headers"]["Content-Type"] == "application/json"


def test_button_payloads_are_forwarded_unchanged(client, fake_rasa):
    assert post(client, message="/affirm").status_code == 200
    assert fake_rasa.received[0]["json"]["message"] == "/affirm"


def test_relay_token_is_sent_when_set(client, fake_rasa, monkeypatch):
    monkeypatch.setenv("RELAY_TOKEN", "s3cret-token")
    assert post(client, message="你好").status_code == 200
    assert fake_rasa.received[0]["headers"]["X-Relay-Token"] == "s3cret-token"


def test_trailing_slash_in_rasa_url_is_tolerated(client, fake_rasa, monkeypatch):
    monkeypatch.setenv("RASA_URL", fake_rasa.url + "/")
    assert post(client, message="你好").status_code == 200
    assert fake_rasa.received[0]["path"] == "/webhooks/webchat/webhook"


def test_chinese_text_and_line_breaks_survive_the_round_trip(client, fake_rasa):
    fake_rasa.reply = [{"recipient_id": "webchat-abc", "text": "材料：\n1. 身份证\n2. 户口簿"}]
    res = post(client, message="结婚登记要带什么")
    assert res.get_json()["messages"][0]["text"] == "材料：\n1. 身份证\n2. 户口簿"
    assert "身份证" in res.get_data(as_text=True)  # not \\u-escaped


def test_an_empty_answer_is_passed_through(client, fake_rasa):
    fake_rasa.reply = []
    assert post(client, message="你好").get_json() == {"messages": []}


# --- the core misbehaves ----------------------------------------------------------------------


def assert_apology(res: Any) -> None:
    assert res.status_code == 503
    assert res.get_json() == {"error": "core_unavailable", "message": UNAVAILABLE_TEXT}
    assert "Traceback" not in res.get_data(as_text=True)


def test_unreachable_core_gives_503_with_the_apology(client, monkeypatch):
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{closed_port()}")
    assert_apology(post(client, message="你好"))


def test_slow_core_gives_503_after_chat_timeout(client, fake_rasa, monkeypatch):
    monkeypatch.setenv("CHAT_TIMEOUT", "0.5")
    fake_rasa.delay = 5
    started = time.monotonic()
    res = post(client, message="你好")
    assert time.monotonic() - started < 3
    assert_apology(res)
    assert len(fake_rasa.received) == 1


@pytest.mark.parametrize("status", [403, 404, 500, 502])
def test_non_200_from_core_gives_503_even_with_a_well_formed_body(client, fake_rasa, status):
    fake_rasa.status = status  # the body stays the canned list of messages
    assert_apology(post(client, message="你好"))


@pytest.mark.parametrize("raw", [b"<html>oops</html>", b'{"text": "not a list"}', b'["just a string"]'])
def test_an_answer_that_is_not_a_list_of_messages_gives_503(client, fake_rasa, raw):
    fake_rasa.raw_body = raw
    assert_apology(post(client, message="你好"))


# --- logging and settings ---------------------------------------------------------------------


def test_logs_carry_neither_the_message_nor_the_sender_id(client, fake_rasa, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="channels.webchat.relay")
    post(client, message="我的身份证号是某某")
    session = fake_rasa.received[0]["json"]["sender"].removeprefix("webchat-")
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{closed_port()}")
    post(client, message="我的身份证号是某某")
    records = [r for r in caplog.records if r.name == "channels.webchat.relay"]
    assert {r.levelno for r in records} == {logging.INFO, logging.WARNING}
    assert session not in caplog.text and "身份证" not in caplog.text


def test_settings_default_to_the_local_core_on_rasa_port():
    assert ChatSettings.from_env({}).relay_url == "http://127.0.0.1:5005/webhooks/webchat/webhook"
    assert ChatSettings.from_env({"RASA_PORT": "5099"}).rasa_url == "http://127.0.0.1:5099"
    assert ChatSettings.from_env({}).timeout == 10.0 and ChatSettings.from_env({}).relay_token is None


@pytest.mark.parametrize(
    ("env", "named"),
    [({"CHAT_TIMEOUT": "abc"}, "CHAT_TIMEOUT"), ({"CHAT_TIMEOUT": "0"}, "CHAT_TIMEOUT"),
     ({"RASA_URL": "127.0.0.1:5005"}, "RASA_URL")],
)
def test_unusable_settings_stop_the_app_at_start_up(monkeypatch, env, named):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=named):
        create_app({"TESTING": True})


# --- server-issued sessions, client addresses, rate limits -----------------------------------


def core_sender(fake: FakeRelay, i: int = -1) -> str:
    return fake.received[i]["json"]["sender"]


def test_the_page_issues_a_signed_httponly_samesite_session_cookie(client):
    res = client.get("/chat/")
    cookie = res.headers["Set-Cookie"]
    assert cookie.startswith("webchat_session=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/chat" in cookie


def test_the_conversation_follows_the_cookie_and_a_sender_field_is_ignored(client, fake_rasa):
    client.get("/chat/")
    post(client, sender="victim-session", message="你好")
    post(client, sender="another-one", message="你好")
    assert core_sender(fake_rasa, 0) == core_sender(fake_rasa, 1)
    assert "victim" not in core_sender(fake_rasa, 0) and "another" not in core_sender(fake_rasa, 1)


def test_a_forged_or_missing_cookie_gets_a_fresh_server_session(client, fake_rasa):
    client.set_cookie("webchat_session", "0" * 32, path="/chat")  # unsigned: not accepted
    res = post(client, message="你好")
    assert res.status_code == 200 and "webchat_session=" in res.headers["Set-Cookie"]
    assert core_sender(fake_rasa) != "webchat-" + "0" * 32


def test_new_chat_gets_a_new_session_and_only_by_a_json_post(client, fake_rasa):
    post(client, message="你好")
    assert client.post("/chat/api/session", data="{}", content_type="text/plain").status_code == 400
    post(client, message="你好")
    assert core_sender(fake_rasa, 0) == core_sender(fake_rasa, 1)
    assert client.post("/chat/api/session", json={}).status_code == 200
    post(client, message="你好")
    assert core_sender(fake_rasa, 2) != core_sender(fake_rasa, 1)


def test_forwarded_for_is_believed_only_from_the_configured_proxy(fake_rasa, monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.5")
    app_client = create_app({"TESTING": True}).test_client()
    forged = {"X-Forwarded-For": "203.0.113.9"}
    app_client.post("/chat/api/message", json={"message": "你好"}, headers=forged,
                    environ_base={"REMOTE_ADDR": "198.51.100.7"})
    app_client.post("/chat/api/message", json={"message": "你好"}, headers=forged,
                    environ_base={"REMOTE_ADDR": "10.0.0.5"})
    addresses = [r["json"]["metadata"]["client_address"] for r in fake_rasa.received]
    assert addresses == ["198.51.100.7", "203.0.113.9"]


def test_over_the_session_limit_the_citizen_gets_a_polite_429_and_nothing_is_forwarded(client, fake_rasa):
    from server.limits import load_limits

    per_minute = int(load_limits()["webchat"]["per_session"].split()[0])
    client.get("/chat/")  # the page issues the session
    for _ in range(per_minute):
        assert post(client, message="你好").status_code == 200
    res = post(client, message="再问一次")
    assert res.status_code == 429
    assert res.get_json()["error"] == "too_many_requests" and CJK.search(res.get_json()["message"])
    assert len(fake_rasa.received) == per_minute
    client.post("/chat/api/session", json={})  # a new conversation has its own session budget
    assert post(client, message="你好").status_code == 200

