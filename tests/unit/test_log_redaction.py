"""The Telegram bot token never reaches a log line, whatever logs the URL (httpx included)."""

from __future__ import annotations

import io
import logging
import socket

import httpx
import pytest

from common.jsonlog import configure, redact

TOKEN = "123456789:AAHk-Secret_Token0123456789abcdefghijkl"


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure("test", "DEBUG", stream=out, json_lines=False)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failed_bot_api_call_logged_with_its_url_and_traceback_carries_no_token(stream: io.StringIO) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/bot{TOKEN}/sendMessage"
    with httpx.Client(timeout=2) as client:
        try:
            client.post(url, json={"chat_id": 1, "text": "hi"})
        except httpx.HTTPError as exc:
            logging.getLogger("channels.telegram").warning("send failed for %s", exc.request.url, exc_info=True)
    text = stream.getvalue()
    assert "send failed for" in text and "/bot<redacted>/sendMessage" in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text


def test_httpx_request_lines_are_not_logged_even_at_debug(stream: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/getUpdates", TOKEN)
    assert stream.getvalue() == ""
    logging.getLogger("httpx").warning("HTTP Request failed: https://api.telegram.org/bot%s/getUpdates", TOKEN)
    assert "bot<redacted>/getUpdates" in stream.getvalue() and TOKEN not in stream.getvalue()


@pytest.mark.parametrize(("raw", "clean"), [
    (f"https://api.telegram.org/bot{TOKEN}/getMe", "https://api.telegram.org/bot<redacted>/getMe"),
    (f"token {TOKEN} leaked", "token <redacted> leaked"),
    ("http://127.0.0.1:5005/status?token=abc123&x=1", "http://127.0.0.1:5005/status?token=<redacted>&x=1"),
    ("12:30 会议，编号 2026:11", "12:30 会议，编号 2026:11"),
])
def test_redact_removes_url_credentials_only(raw: str, clean: str) -> None:
    assert redact(raw) == clean
