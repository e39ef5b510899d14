"""Pull channels against the real core going away and coming back (issue 17).

The real Rasa server and action server (``live_core``), the local fake Bot API and a real
Dovecot: a message waiting while the core is down or still loading its model is taken
only once the core is ready and answered once with the real answer; killing the core in
the middle of a conversation loses nothing and doubles nothing. Each test leaves the
session's core running with its model for the tests after it.
"""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.* are used as arguments

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy

from channels.core import CoreClient, CoreSettings
from channels.mail import texts as mail_texts
from channels.mail.verify import MailSettings
from channels.mail.worker import HANDLED_KEYWORD, MailWorker
from channels.mail.worker import conversation_id as mail_conversation
from channels.pull import PullSettings
from channels.state import ChannelState
from channels.telegram import texts as telegram_texts
from channels.telegram.adapter import conversation_id
from devtools.dovecot import DovecotServer
from devtools.fake_telegram import FakeBotAPI
from devtools.live import LiveCore
from devtools.supervisor import rasa_command, start, wait_http
from tests.channels.mailkit import (  # noqa: F401
    SmtpServer,
    citizen_mail,
    deliver,
    dovecot,
    mail_env,
    mailbox_state,
    smtp_server,
)
from tests.channels.test_telegram import Poller, make_adapter

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

FAST = PullSettings(ready_poll_s=0.5, retry_first_s=0.5, retry_max_s=2.0, retry_deadline_s=300.0)


def ready(core: LiveCore, channel: str = "telegram") -> requests.Response | None:
    """The relay's readiness answer, or None while nothing listens on the port."""
    try:
        return requests.get(f"{core.rasa_url}/webhooks/{channel}/ready", timeout=5)
    except requests.RequestException:
        return None


@pytest.fixture
def core(live_core: LiveCore) -> Iterator[LiveCore]:
    """The session's core; brought back with its model and actions if a test left it otherwise."""
    yield live_core
    if live_core.processes["actions"].proc.poll() is not None:
        live_core.start_actions()
    answer = ready(live_core)
    if answer is None or answer.status_code != 200:
        live_core.processes["rasa"].stop()
        live_core.start_rasa()


def start_rasa_without_model(core: LiveCore, tmp_path: Path) -> None:
    """Rasa listening on the core's port with no model loaded yet (as while a model loads or is swapped)."""
    empty = tmp_path / "no-model"
    empty.mkdir(exist_ok=True)
    port = core.rasa_url.rsplit(":", 1)[1]
    cmd = rasa_command(port, empty, str(core.endpoints), api_token=core.api_token)
    core.processes["rasa"] = start("rasa", cmd, core.env, core.workdir)
    wait_http(f"{core.rasa_url}/webhooks/telegram/", core.processes["rasa"], 240)  # the port answers…


def settled(api: FakeBotAPI, chat_id: int, count: int, timeout: float = 180.0) -> list[dict[str, Any]]:
    """The chat's messages once at least ``count`` arrived and nothing more came for 2 s."""
    api.wait_for(chat_id, count, timeout=timeout)
    seen = -1
    while len(api.messages_to(chat_id)) != seen:
        seen = len(api.messages_to(chat_id))
        time.sleep(2.0)
    return api.messages_to(chat_id)


def pull_lines(caplog: pytest.LogCaptureFixture, channel: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "channels.pull" and r.getMessage().startswith(channel)]


def plain(message: Any) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def mail_worker(core: LiveCore, dovecot: DovecotServer, smtp_server: SmtpServer,
                tmp_path: Path) -> Iterator[MailWorker]:
    """The mailbox worker running in a thread against the real Dovecot and the session's core."""
    env = mail_env(dovecot, smtp_server, core.rasa_url, f"sqlite:///{tmp_path / 'mail.db'}")
    state = ChannelState(env["CHANNELS_DB_URL"])
    worker = MailWorker(MailSettings.from_env({**env, "MAIL_POLL_S": "2"}), core=CoreClient(CoreSettings.from_env(env)),
                        state=state, pull=FAST)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    worker.thread = thread  # type: ignore[attr-defined]
    yield worker
    worker.stop()
    if thread.is_alive():
        thread.join(timeout=20)
    state.dispose()
    assert not thread.is_alive()


@pytest.fixture
def poller(core: LiveCore, fake_telegram: FakeBotAPI, tmp_path: Path) -> Iterator[Poller]:
    """The Telegram long-polling worker (not started) against the fake Bot API and the session's core."""
    p = Poller(make_adapter(fake_telegram, core.rasa_url, tmp_path / "tg.db"))
    yield p
    if p.thread.is_alive():
        p.stop()
    p.adapter.state.dispose()


def claims(worker: MailWorker) -> int:
    with worker.state.engine.connect() as conn:
        return int(conn.execute(sqlalchemy.text("SELECT count(*) FROM channel_processed")).scalar() or 0)


def test_pull_workers_wait_for_the_core_to_load_its_model_then_answer_once(
        core: LiveCore, poller: Poller, fake_telegram: FakeBotAPI, mail_worker: MailWorker, dovecot: DovecotServer,
        smtp_server: SmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    chat, citizen = 7100001, "wait.for.core@example.cn"
    core.processes["rasa"].stop()
    assert ready(core) is None
    caplog.set_level(logging.INFO, logger="channels.pull")
    poller.start()
    mail_worker.thread.start()  # type: ignore[attr-defined]
    update_id = fake_telegram.push_text(chat, "办护照要带什么材料")
    deliver(dovecot, citizen_mail("结婚登记要带什么？", sender=citizen, message_id="<wait-1@example.cn>"))
    time.sleep(3.0)
    assert fake_telegram.sent == [] and smtp_server.recorder.messages == []
    assert [u["update_id"] for u in fake_telegram.updates] == [update_id]  # not taken, not acknowledged
    assert claims(mail_worker) == 0  # not taken

    start_rasa_without_model(core, tmp_path)  # the port answers, but no model is loaded yet
    answer = ready(core)
    assert answer is not None and answer.status_code == 503 and answer.json()["status"] == "loading"
    assert CoreClient(CoreSettings(core.rasa_url, 10.0, None)).ready("mail").reason == "loading"
    time.sleep(3.0)
    assert fake_telegram.sent == [] and smtp_server.recorder.messages == [] and claims(mail_worker) == 0
    assert [u["update_id"] for u in fake_telegram.updates] == [update_id]

    res = requests.put(f"{core.rasa_url}/model", params={"token": core.api_token}, json={"model_file": str(core.model)}, timeout=600)
    assert res.status_code == 204, res.text
    answer = ready(core)
    assert answer is not None and answer.status_code == 200 and answer.json()["status"] == "ready"
    text = "\n".join(m["text"] for m in settled(fake_telegram, chat, 1))
    assert "护照" in text and "身份证" in text and telegram_texts.UNAVAILABLE not in text
    reply = plain(smtp_server.recorder.wait_for(1, timeout=120)[0])
    assert "结婚" in reply and "户口" in reply
    time.sleep(3.0)  # a few more rounds and polls: still once
    assert len(smtp_server.recorder.messages) == 1
    tracker = core.tracker(conversation_id(chat))
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["办护照要带什么材料"]
    assert poller.adapter.state.list_notes("telegram", "inbox") == {}
    for channel in ("telegram", "mail"):
        lines = pull_lines(caplog, channel)
        assert len(lines) == 2, lines  # one line on pause, one on resume: not one per poll
        assert "core not ready" in lines[0] and "taking new messages again" in lines[1]
    assert all(citizen not in r.getMessage() and str(chat) not in r.getMessage() for r in caplog.records)

    core.processes["actions"].stop()  # the model alone is not enough
    answer = ready(core)
    assert answer is not None and answer.status_code == 503 and answer.json()["status"] == "actions_unavailable"
    core.start_actions()


def test_core_killed_mid_conversation_nothing_lost_nothing_doubled(
        core: LiveCore, poller: Poller, fake_telegram: FakeBotAPI, mail_worker: MailWorker, dovecot: DovecotServer,
        smtp_server: SmtpServer) -> None:
    chat, citizen = 7100002, "killed.core@example.cn"
    recorder = smtp_server.recorder
    poller.start()
    mail_worker.thread.start()  # type: ignore[attr-defined]
    fake_telegram.push_text(chat, "结婚登记要带什么")
    deliver(dovecot, citizen_mail("办护照要带什么材料？", sender=citizen, message_id="<kill-1@example.cn>"))
    before = len(settled(fake_telegram, chat, 1, timeout=60))
    recorder.wait_for(1, timeout=60)

    core.processes["rasa"].stop(signal.SIGKILL)
    fake_telegram.push_text(chat, "办护照要带什么材料")
    fake_telegram.push_text(chat, "身份证丢了怎么补")
    deliver(dovecot, citizen_mail("身份证丢了怎么补？", sender=citizen, message_id="<kill-2@example.cn>"))
    time.sleep(3.0)
    assert len(fake_telegram.messages_to(chat)) == before and len(recorder.messages) == 1  # waiting, not apologising
    core.start_rasa()

    sent = settled(fake_telegram, chat, before + 2)[before:]
    tracker = core.tracker(conversation_id(chat))
    # The restarted core (in-memory tracker store) saw each waiting message exactly once, in order…
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["办护照要带什么材料", "身份证丢了怎么补"]
    # …and the citizen got each of its answers once, nothing else.
    bot_texts = [e["text"].strip() for e in tracker["events"] if e["event"] == "bot" and (e.get("text") or "").strip()]
    assert [m["text"] for m in sent] == bot_texts
    assert poller.adapter.state.list_notes("telegram", "inbox") == {}

    recorder.wait_for(2, timeout=120)
    time.sleep(3.0)
    assert len(recorder.messages) == 2
    assert mail_texts.CORE_UNAVAILABLE not in plain(recorder.messages[1])
    mail_tracker = core.tracker(mail_conversation(citizen))
    assert [e["text"] for e in mail_tracker["events"] if e["event"] == "user"] == ["身份证丢了怎么补？"]
    assert all(HANDLED_KEYWORD in flags for flags in mailbox_state(dovecot).values())
