"""The Telegram adapter (python-telegram-bot 22) against a local fake Bot API, polling and webhook."""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.* are used as arguments

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.core import BotMessage, Button, CoreClient, CoreSettings
from channels.pull import PullSettings
from channels.state import ChannelState
from channels.telegram import texts
from channels.telegram.adapter import ChatRateLimiter, TelegramAdapter, conversation_id, serve_polling
from channels.telegram.render import parse_callback, render, split_text
from channels.telegram.verify import TelegramSettings, TelegramSettingsError
from devtools.fake_telegram import TOKEN, FakeBotAPI
from tests.channels.mailkit import RecordingRelay, relay  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
CHAT = 5550001


# -- render and settings (no servers) ---------------------------------------------------------
def test_long_answers_are_split_under_telegram_limit_at_sentence_ends() -> None:
    text = "这是一段很长的办事指南说明。" * 700
    chunks = split_text(text)
    assert len(chunks) == 3 and all(len(c) <= 4096 for c in chunks)
    assert all(c.endswith("。") for c in chunks) and "".join(chunks) == text
    assert split_text("x" * 5000) == ["x" * 4096, "x" * 904]


def test_buttons_become_inline_keyboards_with_short_ascii_callback_data() -> None:
    buttons = tuple(Button(f"选项{i}" * 5, f"/inform{{\"center\": \"天河区政务服务中心{i}\"}}") for i in range(12))
    [out] = render([BotMessage(text="", buttons=buttons)], new_set_id=lambda: "0a1b2c3d")
    assert out.text == texts.CHOOSE
    assert out.options is not None and out.options.payloads == tuple(b.payload for b in buttons)
    data = [row[0].callback_data for row in out.keyboard.inline_keyboard]  # type: ignore[union-attr]
    assert all(len(d.encode("utf-8")) <= 64 and d.isascii() for d in data)
    assert [parse_callback(d) for d in data[:2]] == [("0a1b2c3d", 0), ("0a1b2c3d", 1)]
    assert parse_callback("o:zz:1") is None and parse_callback(None) is None


def test_settings_fail_closed() -> None:
    with pytest.raises(TelegramSettingsError, match="TELEGRAM_BOT_TOKEN is not set"):
        TelegramSettings.from_env({})
    with pytest.raises(TelegramSettingsError, match="TELEGRAM_WEBHOOK_SECRET is not set"):
        TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_MODE": "webhook"})
    with pytest.raises(TelegramSettingsError, match="TELEGRAM_WEBHOOK_SECRET may only"):
        TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "有中文"})
    ok = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert (ok.mode, ok.api_base_url, ok.rate_per_min) == ("polling", "https://api.telegram.org", 20)


def test_rate_limiter_is_per_chat_and_slides() -> None:
    now = [0.0]
    limiter = ChatRateLimiter(2, clock=lambda: now[0])
    assert [limiter.allow(1), limiter.allow(1), limiter.allow(1), limiter.allow(2)] == [True, True, False, True]
    now[0] = 60.0
    assert limiter.allow(1)


def test_missing_token_stops_the_worker_with_one_clear_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    res = subprocess.run([sys.executable, "-m", "channels.telegram"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "TELEGRAM_BOT_TOKEN is not set" in lines[0]


# -- polling against the fake Bot API ---------------------------------------------------------
class Poller:
    """The adapter long-polling the fake API from a background thread (public PTB APIs only)."""

    def __init__(self, adapter: TelegramAdapter):
        self.adapter = adapter
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            await serve_polling(self.adapter, self.stop_event, poll_timeout=1)

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def start(self) -> None:
        self.thread.start()
        deadline = time.time() + 10
        while self.stop_event is None and time.time() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout=20)
        assert not self.thread.is_alive() and self.error is None, self.error


def make_adapter(api: FakeBotAPI, rasa_url: str, db: Path, deadline_s: float = 300.0, **env: str) -> TelegramAdapter:
    settings = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.url, **env})
    core = CoreClient(CoreSettings.from_env({"RASA_URL": rasa_url, "CORE_TIMEOUT": "30"}))
    pull = PullSettings(ready_poll_s=0.2, retry_first_s=0.2, retry_max_s=1.0, retry_deadline_s=deadline_s)
    return TelegramAdapter(settings, core=core, state=ChannelState(f"sqlite:///{db}"), pull=pull)


@pytest.fixture
def poller(fake_telegram: FakeBotAPI, relay: RecordingRelay, tmp_path: Path) -> Iterator[Poller]:
    p = Poller(make_adapter(fake_telegram, relay.url, tmp_path / "ch.db", TELEGRAM_RATE_PER_MIN="5"))
    p.start()
    yield p
    p.stop()
    p.adapter.state.dispose()


def test_start_help_and_text_go_through_the_core_once(poller: Poller, fake_telegram: FakeBotAPI,
                                                       relay: RecordingRelay) -> None:
    fake_telegram.push_text(CHAT, "/start")
    fake_telegram.wait_for(CHAT, 1)
    fake_telegram.push_text(CHAT, "/help")
    fake_telegram.wait_for(CHAT, 2)
    update = fake_telegram.text_update(CHAT, "护照要多少钱？")
    fake_telegram.push_update(update)
    fake_telegram.push_update(update)  # delivered twice: processed once
    sent = fake_telegram.wait_for(CHAT, 3)
    time.sleep(1.0)
    assert [m["text"] for m in fake_telegram.messages_to(CHAT)] == [
        "已收到您的选择 /greet", texts.HELP, "答复：护照要多少钱？"]
    assert [c["message"] for c in relay.calls] == ["/greet", "护照要多少钱？"]
    assert {c["sender"] for c in relay.calls} == {conversation_id(CHAT)}
    assert str(CHAT) not in relay.calls[0]["sender"]
    assert all(c["path"] == "/webhooks/telegram/webhook" for c in relay.calls)
    assert sent[0]["reply_markup"] is None


def test_button_press_is_answered_retired_and_sent_to_the_core_once(poller: Poller, fake_telegram: FakeBotAPI,
                                                                      relay: RecordingRelay) -> None:
    fake_telegram.push_text(CHAT, "我想预约办护照")
    [question] = fake_telegram.wait_for(CHAT, 1)
    keyboard = question["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard] == ["确认预约", "取消"]
    data = keyboard[0][0]["callback_data"]
    assert len(data.encode()) <= 64 and "affirm" not in data

    fake_telegram.push_callback(CHAT, data, question)
    fake_telegram.wait_for(CHAT, 2)
    fake_telegram.push_callback(CHAT, data, question)  # pressed again: answered, not sent again
    deadline = time.time() + 10
    while time.time() < deadline and len(fake_telegram.answered) < 2:
        time.sleep(0.05)
    assert [a.get("text") for a in fake_telegram.answered] == ["已选择：确认预约", texts.OPTION_EXPIRED]
    assert len(fake_telegram.edited) == 1
    assert [c["message"] for c in relay.calls] == ["我想预约办护照", "/affirm"]
    assert fake_telegram.messages_to(CHAT)[1]["text"] == "已收到您的选择 /affirm"


def test_unknown_callback_data_is_answered_not_crashed(poller: Poller, fake_telegram: FakeBotAPI,
                                                        relay: RecordingRelay) -> None:
    fake_telegram.push_text(CHAT, "你好")
    [message] = fake_telegram.wait_for(CHAT, 1)
    fake_telegram.push_callback(CHAT, "ffffffff-not-ours", message)
    deadline = time.time() + 10
    while time.time() < deadline and not fake_telegram.answered:
        time.sleep(0.05)
    assert fake_telegram.answered[0].get("text") == texts.OPTION_EXPIRED
    assert len(relay.calls) == 1


def test_long_answers_split_and_non_text_gets_a_note(poller: Poller, fake_telegram: FakeBotAPI) -> None:
    fake_telegram.push_text(CHAT, "请给我长答复")
    sent = fake_telegram.wait_for(CHAT, 2)
    assert all(len(m["text"]) <= 4096 for m in sent) and len("".join(m["text"] for m in sent)) == 14 * 400
    photo = fake_telegram.text_update(CHAT + 1, "x")
    del photo["message"]["text"]
    photo["message"]["photo"] = [{"file_id": "f1", "file_unique_id": "u1", "width": 10, "height": 10}]
    fake_telegram.push_update(photo)
    assert fake_telegram.wait_for(CHAT + 1, 1)[0]["text"] == texts.UNSUPPORTED


def test_per_chat_rate_limit_protects_the_core(poller: Poller, fake_telegram: FakeBotAPI,
                                                relay: RecordingRelay) -> None:
    for i in range(7):
        fake_telegram.push_text(CHAT, f"问题{i}")
    fake_telegram.push_text(CHAT + 2, "别的市民")
    fake_telegram.wait_for(CHAT + 2, 1)
    fake_telegram.wait_for(CHAT, 6)
    time.sleep(0.5)
    texts_sent = [m["text"] for m in fake_telegram.messages_to(CHAT)]
    assert texts_sent.count(texts.RATE_LIMITED) == 1 and len(texts_sent) == 6
    assert len([c for c in relay.calls if c["sender"] == conversation_id(CHAT)]) == 5


def test_core_not_ready_pauses_intake_with_one_line_and_leaves_the_update_unacknowledged(
        poller: Poller, fake_telegram: FakeBotAPI, relay: RecordingRelay, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="channels.pull"):
        relay.down = True
        time.sleep(1.5)  # at most one getUpdates was in flight when the core went away
        update_id = fake_telegram.push_text(CHAT, "社保卡怎么办")
        checks = relay.ready_checks
        time.sleep(2.0)
        assert relay.ready_checks > checks  # still checking…
        assert fake_telegram.sent == [] and relay.calls == []  # …but taking nothing
        assert [u["update_id"] for u in fake_telegram.updates] == [update_id]  # not acknowledged
        relay.down = False
        assert [m["text"] for m in fake_telegram.wait_for(CHAT, 1)] == ["答复：社保卡怎么办"]
    time.sleep(1.0)
    assert len(fake_telegram.messages_to(CHAT)) == 1 and len(relay.calls) == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "channels.pull"]
    assert len(lines) == 2, lines
    assert "core not ready (loading); taking no new messages" in lines[0] and "taking new messages again" in lines[1]


def test_a_taken_message_is_retried_until_the_core_answers(poller: Poller, fake_telegram: FakeBotAPI,
                                                            relay: RecordingRelay) -> None:
    relay.fail_posts = 3  # the core goes away after the readiness check
    fake_telegram.push_text(CHAT, "居住证怎么办")
    assert [m["text"] for m in fake_telegram.wait_for(CHAT, 1)] == ["答复：居住证怎么办"]
    time.sleep(1.0)
    assert relay.failed == 3 and len(relay.calls) == 1 and len(fake_telegram.messages_to(CHAT)) == 1
    assert poller.adapter.state.list_notes("telegram", "inbox") == {}


def test_after_the_deadline_the_apology_is_sent_once_and_errors_get_one_too(
        fake_telegram: FakeBotAPI, relay: RecordingRelay, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = Poller(make_adapter(fake_telegram, relay.url, tmp_path / "ch.db", deadline_s=1.5))
    p.start()
    try:
        relay.fail_posts = 1000
        fake_telegram.push_text(CHAT, "社保卡怎么办")
        started = time.monotonic()
        assert fake_telegram.wait_for(CHAT, 1)[0]["text"] == texts.UNAVAILABLE
        assert time.monotonic() - started >= 1.4  # retried until the deadline first
        relay.fail_posts = 0
        with caplog.at_level(logging.ERROR, logger="channels.telegram.adapter"):
            fake_telegram.push_text(CHAT, "触发错误")
            assert fake_telegram.wait_for(CHAT, 2)[1]["text"] == texts.UNAVAILABLE  # from the central error handler
        time.sleep(1.0)
        assert len(fake_telegram.messages_to(CHAT)) == 2
        assert p.adapter.state.list_notes("telegram", "inbox") == {}
    finally:
        p.stop()
        p.adapter.state.dispose()
    assert any("error handling update_id" in r.getMessage() for r in caplog.records)
    assert all("触发错误" not in r.getMessage() for r in caplog.records)


def test_an_update_taken_by_a_stopped_worker_is_answered_once_by_the_next(
        fake_telegram: FakeBotAPI, relay: RecordingRelay, tmp_path: Path) -> None:
    """Telegram forgets an update once acknowledged: the inbox must carry it across a restart."""
    first = Poller(make_adapter(fake_telegram, relay.url, tmp_path / "ch.db"))
    first.start()
    relay.fail_posts = 1000
    update_id = fake_telegram.push_text(CHAT, "公积金怎么提取")
    deadline = time.time() + 10
    while time.time() < deadline and (not relay.failed or any(u["update_id"] == update_id
                                                              for u in fake_telegram.updates)):
        time.sleep(0.05)
    assert all(u["update_id"] != update_id for u in fake_telegram.updates)  # acknowledged, once in the inbox
    first.stop()  # stopped while retrying
    first.adapter.state.dispose()
    assert fake_telegram.sent == []
    relay.fail_posts = 0
    second = Poller(make_adapter(fake_telegram, relay.url, tmp_path / "ch.db"))
    second.start()
    try:
        assert [m["text"] for m in fake_telegram.wait_for(CHAT, 1)] == ["答复：公积金怎么提取"]
        time.sleep(1.0)
        assert [c["message"] for c in relay.calls] == ["公积金怎么提取"]
        assert len(fake_telegram.messages_to(CHAT)) == 1
        assert second.adapter.state.list_notes("telegram", "inbox") == {}
    finally:
        second.stop()
        second.adapter.state.dispose()


def test_a_button_press_taken_by_a_stopped_worker_still_reaches_the_core_once(
        fake_telegram: FakeBotAPI, relay: RecordingRelay, tmp_path: Path) -> None:
    first = Poller(make_adapter(fake_telegram, relay.url, tmp_path / "ch.db"))
    first.start()
    fake_telegram.push_text(CHAT, "我想预约办护照")
    [question] = fake_telegram.wait_for(CHAT, 1)
    relay.fail_posts = 1000
    fake_telegram.push_callback(CHAT, question["reply_markup"]["inline_keyboard"][0][0]["callback_data"], question)
    deadline = time.time() + 10
    while time.time() < deadline and not relay.failed:
        time.sleep(0.05)
    first.stop()  # stopped while retrying the press
    first.adapter.state.dispose()
    relay.fail_posts = 0
    second = Poller(make_adapter(fake_telegram, relay.url, tmp_path / "ch.db"))
    second.start()
    try:
        assert fake_telegram.wait_for(CHAT, 2)[1]["text"] == "已收到您的选择 /affirm"
        fake_telegram.push_callback(CHAT, question["reply_markup"]["inline_keyboard"][0][0]["callback_data"], question)
        time.sleep(1.5)  # pressed again: spent
        assert [c["message"] for c in relay.calls] == ["我想预约办护照", "/affirm"]
        assert len(fake_telegram.messages_to(CHAT)) == 2 and fake_telegram.answered[-1].get("text") == texts.OPTION_EXPIRED
    finally:
        second.stop()
        second.adapter.state.dispose()


# -- webhook behind the Flask app server --------------------------------------------------------
@pytest.fixture
def webhook_app(fake_telegram: FakeBotAPI, relay: RecordingRelay, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {"TELEGRAM_BOT_TOKEN": fake_telegram.token, "TELEGRAM_API_BASE_URL": fake_telegram.url,
                       "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_SECRET": "s3cret-Token_1",
                       "RASA_URL": relay.url, "CHANNELS_DB_URL": f"sqlite:///{tmp_path / 'ch.db'}"}.items():
        monkeypatch.setenv(key, value)
    from server.app import create_app

    app = create_app({"TESTING": True, "CHANNEL_STATE": ChannelState(f"sqlite:///{tmp_path / 'ch.db'}")})
    yield app
    app.extensions["telegram_runtime"].shutdown()


HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.mark.parametrize("headers", [{}, {HEADER: "wrong"}, {HEADER: ""}, {HEADER: "s3cret-Token_1x"}])
def test_webhook_refuses_a_wrong_or_missing_secret(webhook_app: Any, fake_telegram: FakeBotAPI,
                                                    relay: RecordingRelay, headers: dict[str, str]) -> None:
    res = webhook_app.test_client().post("/channels/telegram/webhook", headers=headers,
                                         json=fake_telegram.text_update(CHAT, "你好"))
    assert res.status_code == 403
    assert relay.calls == [] and fake_telegram.sent == []


def test_webhook_processes_an_update_once_and_answers_after_the_reply(webhook_app: Any, fake_telegram: FakeBotAPI,
                                                                       relay: RecordingRelay) -> None:
    client = webhook_app.test_client()
    update = fake_telegram.text_update(CHAT, "结婚登记要带什么？", update_id=77)
    res = client.post("/channels/telegram/webhook", headers={HEADER: "s3cret-Token_1"}, json=update)
    assert res.status_code == 200
    assert [m["text"] for m in fake_telegram.messages_to(CHAT)] == ["答复：结婚登记要带什么？"]  # sent before 200
    again = client.post("/channels/telegram/webhook", headers={HEADER: "s3cret-Token_1"}, json=update)
    assert again.status_code == 200 and len(relay.calls) == 1 and len(fake_telegram.sent) == 1
    bad = client.post("/channels/telegram/webhook", headers={HEADER: "s3cret-Token_1"}, data="not json",
                      content_type="application/json")
    assert bad.status_code == 400


def test_without_a_token_the_webhook_is_not_served(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    for key in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_MODE", "TELEGRAM_WEBHOOK_SECRET"):
        monkeypatch.delenv(key, raising=False)
    from server.app import create_app

    with caplog.at_level(logging.INFO, logger="channels.registry"):
        app = create_app({"TESTING": True})
    assert app.test_client().post("/channels/telegram/webhook", json={}).status_code == 404
    assert any("Telegram channel not started: telegram settings: TELEGRAM_BOT_TOKEN is not set" in r.getMessage()
               for r in caplog.records)
