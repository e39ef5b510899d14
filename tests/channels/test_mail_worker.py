"""The mailbox worker against a real Dovecot IMAP server and a real SMTP server (aiosmtpd)."""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.mailkit are used as arguments

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from channels.core import CoreClient, CoreSettings
from channels.mail import texts as mail_texts
from channels.mail.verify import MailSettings
from channels.mail.worker import HANDLED_KEYWORD, SEEN, MailWorker, Outcome, conversation_id
from channels.pull import PullSettings
from channels.state import ChannelState
from devtools.dovecot import DovecotServer
from tests.channels.mailkit import (  # noqa: F401 - fixtures
    MAILBOX_PASSWORD,
    MAILBOX_USER,
    RecordingRelay,
    SmtpServer,
    citizen_mail,
    deliver,
    dovecot,
    mail_env,
    mailbox_state,
    relay,
    smtp_server,
)

REPO = Path(__file__).resolve().parents[2]
CITIZEN = "zhang.san@example.cn"


@pytest.fixture
def env(dovecot: DovecotServer, smtp_server: SmtpServer, relay: RecordingRelay, tmp_path: Path) -> dict[str, str]:
    return mail_env(dovecot, smtp_server, relay.url, f"sqlite:///{tmp_path / 'channels.db'}")


@pytest.fixture
def state(env: dict[str, str]) -> Iterator[ChannelState]:
    st = ChannelState(env["CHANNELS_DB_URL"], stale_after=1.0)
    yield st
    st.dispose()


FAST = PullSettings(ready_poll_s=0.2, retry_first_s=0.3, retry_max_s=1.0, retry_deadline_s=300.0)


def make_worker(env: dict[str, str], state: ChannelState, pull: PullSettings = FAST, **overrides: object) -> MailWorker:
    settings = dataclasses.replace(MailSettings.from_env(env), **overrides)  # type: ignore[arg-type]
    return MailWorker(settings, core=CoreClient(CoreSettings.from_env(env)), state=state, pull=pull)


def run_round(worker: MailWorker) -> dict[int, str]:
    client = worker.connect()
    try:
        return {uid: r.outcome for uid, r in worker.process_pending(client).items()}
    finally:
        client.logout()


def text_part(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def test_answers_every_question_in_one_threaded_auto_reply(env: dict[str, str], state: ChannelState,
                                                           dovecot: DovecotServer, smtp_server: SmtpServer,
                                                           relay: RecordingRelay) -> None:
    body = "您好！\n我想办护照。需要什么材料？\n另外，结婚登记在哪里办？\n谢谢！\n-- \n张三 13900001234"
    deliver(dovecot, citizen_mail(body, subject="护照和结婚登记", message_id="<q1@example.cn>",
                                  headers={"References": "<older@example.cn>"}))

    assert list(run_round(make_worker(env, state)).values()) == [Outcome.REPLIED]

    [reply] = smtp_server.recorder.messages
    assert reply["To"].addresses[0].addr_spec == CITIZEN
    assert reply["Subject"] == "Re: 护照和结婚登记"
    assert reply["In-Reply-To"] == "<q1@example.cn>"
    assert reply["References"].split() == ["<older@example.cn>", "<q1@example.cn>"]
    assert reply["Auto-Submitted"] == "auto-replied"
    plain = text_part(reply)
    assert "答复：我想办护照。需要什么材料？" in plain and "答复：另外，结婚登记在哪里办？" in plain
    assert plain.index("问题1") < plain.index("问题2")
    assert "13900001234" not in "".join(c["message"] for c in relay.calls)  # signature stripped
    html = reply.get_body(preferencelist=("html",))
    assert html is not None and "答复：另外，结婚登记在哪里办？" in html.get_content()
    # each question to the core in turn, on one conversation per address
    assert [c["message"] for c in relay.calls] == ["我想办护照。需要什么材料？", "另外，结婚登记在哪里办？"]
    assert {c["sender"] for c in relay.calls} == {conversation_id(CITIZEN)}
    assert all(c["path"] == "/webhooks/mail/webhook" for c in relay.calls)
    assert all(CITIZEN not in str(c) for c in relay.calls)
    [flags] = mailbox_state(dovecot).values()
    assert {SEEN, HANDLED_KEYWORD} <= flags

    # a second round (or a second worker) does nothing more
    assert run_round(make_worker(env, state)) == {}
    assert len(smtp_server.recorder.messages) == 1 and len(relay.calls) == 2


def test_a_bare_number_reply_picks_the_numbered_option(env: dict[str, str], state: ChannelState,
                                                        dovecot: DovecotServer, smtp_server: SmtpServer,
                                                        relay: RecordingRelay) -> None:
    deliver(dovecot, citizen_mail("我想预约办护照", message_id="<b1@example.cn>"))
    worker = make_worker(env, state)
    run_round(worker)
    plain = text_part(smtp_server.recorder.messages[0])
    assert "1. 确认预约" in plain and "2. 取消" in plain

    answer = "1\n\n在 2026年11月30日 10:00，市民服务助手 写道：\n> 请确认预约信息：\n> 1. 确认预约\n"
    deliver(dovecot, citizen_mail(answer, subject="Re: 咨询", message_id="<b2@example.cn>",
                                  headers={"In-Reply-To": "<reply@citizen>"}))
    run_round(worker)
    assert relay.calls[-1]["message"] == "/affirm"
    assert "已收到您的选择 /affirm" in text_part(smtp_server.recorder.wait_for(2)[1])


@pytest.mark.parametrize("headers,sender", [
    ({"Auto-Submitted": "auto-replied"}, CITIZEN),
    ({"Precedence": "bulk"}, CITIZEN),
    ({"List-Id": "<news.example.cn>"}, CITIZEN),
    ({"Return-Path": "<>"}, CITIZEN),
    ({}, "MAILER-DAEMON@mx.example.cn"),
    ({}, "no-reply@bank.example.cn"),
    ({}, MAILBOX_USER),
])
def test_robots_are_never_answered(env: dict[str, str], state: ChannelState, dovecot: DovecotServer,
                                   smtp_server: SmtpServer, relay: RecordingRelay, headers: dict[str, str],
                                   sender: str) -> None:
    deliver(dovecot, citizen_mail("您的邮件已收到，我目前休假中。", sender=sender, headers=headers))
    assert list(run_round(make_worker(env, state)).values()) == [Outcome.SKIPPED]
    assert smtp_server.recorder.messages == [] and relay.calls == []
    [flags] = mailbox_state(dovecot).values()
    assert HANDLED_KEYWORD in flags


def test_core_down_leaves_the_mail_for_later_with_backoff_and_nothing_is_lost(
        env: dict[str, str], state: ChannelState, dovecot: DovecotServer, smtp_server: SmtpServer,
        relay: RecordingRelay) -> None:
    deliver(dovecot, citizen_mail("社保卡怎么补办？", message_id="<down@example.cn>"))
    relay.down = True
    worker = make_worker(env, state)
    assert list(run_round(worker).values()) == [Outcome.DEFERRED]
    [flags] = mailbox_state(dovecot).values()
    assert HANDLED_KEYWORD not in flags and SEEN not in flags
    relay.down = False
    assert list(run_round(worker).values()) == [Outcome.DEFERRED]  # backing off: not asked again yet
    assert relay.calls == [] and relay.failed == 1
    time.sleep(0.4)
    assert list(run_round(worker).values()) == [Outcome.REPLIED]
    assert len(smtp_server.recorder.messages) == 1 and len(relay.calls) == 1
    assert state.list_notes("mail", "taken") == {}


def test_past_the_deadline_a_mail_gets_the_answers_so_far_and_one_apology(
        env: dict[str, str], state: ChannelState, dovecot: DovecotServer, smtp_server: SmtpServer,
        relay: RecordingRelay) -> None:
    deliver(dovecot, citizen_mail("1. 护照要多少钱？\n2. 身份证丢了怎么补？", message_id="<late@example.cn>"))
    relay.fail_from = 1  # the core answers the first question, then goes away
    pull = PullSettings(ready_poll_s=0.2, retry_first_s=0.2, retry_max_s=0.2, retry_deadline_s=0.6)
    worker = make_worker(env, state, pull=pull)
    assert list(run_round(worker).values()) == [Outcome.DEFERRED]
    assert smtp_server.recorder.messages == []
    time.sleep(0.7)
    assert list(run_round(worker).values()) == [Outcome.APOLOGISED]
    assert run_round(worker) == {}  # flagged handled: nothing twice
    [reply] = smtp_server.recorder.messages
    text = text_part(reply)
    assert "答复：护照要多少钱？" in text and text.count(mail_texts.CORE_UNAVAILABLE) == 1
    assert [c["message"] for c in relay.calls] == ["护照要多少钱？"]  # the first question was not asked twice
    assert state.list_notes("mail", "taken") == {}


def test_the_worker_takes_no_mail_while_the_core_is_not_ready(
        env: dict[str, str], dovecot: DovecotServer, smtp_server: SmtpServer, relay: RecordingRelay,
        caplog: pytest.LogCaptureFixture) -> None:
    state = ChannelState(env["CHANNELS_DB_URL"])
    relay.down = True
    worker = make_worker(env, state, poll_s=0.5)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    try:
        with caplog.at_level(logging.INFO, logger="channels.pull"):
            thread.start()
            deliver(dovecot, citizen_mail("居住证怎么办理？", message_id="<wait@example.cn>"))
            time.sleep(2.0)
            assert relay.ready_checks >= 3 and relay.failed == 0  # checked, never asked
            with state.engine.connect() as conn:  # not even claimed
                assert conn.execute(sqlalchemy.text("SELECT count(*) FROM channel_processed")).scalar() == 0
            relay.down = False
            smtp_server.recorder.wait_for(1, timeout=15)
            time.sleep(1.0)
    finally:
        worker.stop()
        thread.join(timeout=10)
        state.dispose()
    assert not thread.is_alive()
    assert len(smtp_server.recorder.messages) == 1 and len(relay.calls) == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "channels.pull"]
    assert len(lines) == 2 and "core not ready" in lines[0] and "taking new messages again" in lines[1], lines


def test_smtp_failure_retries_without_asking_the_core_again(env: dict[str, str], state: ChannelState,
                                                             dovecot: DovecotServer, smtp_server: SmtpServer,
                                                             relay: RecordingRelay) -> None:
    deliver(dovecot, citizen_mail("我要投诉：小区门口的路灯坏了一个月了，晚上很黑。", message_id="<c1@example.cn>"))
    smtp_server.recorder.stall_next = True
    smtp_server.recorder.release.set()  # the stalled DATA is refused with 451 at once
    worker = make_worker(env, state)
    assert list(run_round(worker).values()) == [Outcome.DEFERRED]
    assert len(relay.calls) == 1
    assert list(run_round(worker).values()) == [Outcome.REPLIED]
    assert len(relay.calls) == 1  # the stored answer was used: a complaint is never filed twice
    assert len(smtp_server.recorder.messages) == 1


def test_legacy_charsets_and_attachments(env: dict[str, str], state: ChannelState, dovecot: DovecotServer,
                                         smtp_server: SmtpServer, relay: RecordingRelay) -> None:
    msg = EmailMessage()
    msg["From"] = CITIZEN
    msg["To"] = MAILBOX_USER
    msg["Subject"] = "諮詢"
    msg["Message-ID"] = "<big5@example.tw>"
    msg.set_content("請問護照要帶什麼材料？", charset="big5")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="申请表.pdf")
    deliver(dovecot, msg.as_bytes())
    run_round(make_worker(env, state))
    assert relay.calls[0]["message"] == "請問護照要帶什麼材料？"
    plain = text_part(smtp_server.recorder.messages[0])
    assert "1个附件（申请表.pdf）已收到" in plain


def test_oversized_mail_gets_a_polite_reply_without_the_core(env: dict[str, str], state: ChannelState,
                                                              dovecot: DovecotServer, smtp_server: SmtpServer,
                                                              relay: RecordingRelay) -> None:
    deliver(dovecot, citizen_mail("请问" + "很长的内容" * 2000, message_id="<big@example.cn>"))
    assert list(run_round(make_worker(env, state, max_bytes=4096)).values()) == [Outcome.REPLIED]
    assert relay.calls == []
    assert "超过了本邮箱可处理的大小" in text_part(smtp_server.recorder.messages[0])


def test_mail_without_a_usable_sender_is_quarantined(env: dict[str, str], state: ChannelState,
                                                      dovecot: DovecotServer, smtp_server: SmtpServer,
                                                      relay: RecordingRelay) -> None:
    deliver(dovecot, b"Subject: \xff\xfe broken\r\nFrom: not an address\r\nContent-Type: multipart/mixed\r\n\r\n\xff")
    deliver(dovecot, citizen_mail("公积金怎么提取？", message_id="<ok@example.cn>"))
    outcomes = sorted(run_round(make_worker(env, state)).values())
    assert outcomes == [Outcome.QUARANTINED, Outcome.REPLIED]
    assert len(mailbox_state(dovecot)) == 1
    assert len(mailbox_state(dovecot, "Quarantine")) == 1
    assert len(smtp_server.recorder.messages) == 1


@pytest.mark.parametrize("capabilities", [None, "IMAP4rev1 LITERAL+ UIDPLUS MOVE"], ids=["idle", "polling"])
def test_watches_the_mailbox_with_idle_or_polling(tmp_path: Path, smtp_server: SmtpServer, relay: RecordingRelay,
                                                  capabilities: str | None) -> None:
    from devtools.dovecot import dovecot_unavailable_reason

    if dovecot_unavailable_reason():
        pytest.skip(dovecot_unavailable_reason() or "")
    server = DovecotServer(tmp_path / "dc", {MAILBOX_USER: MAILBOX_PASSWORD}, capabilities=capabilities)
    server.start()
    env = mail_env(server, smtp_server, relay.url, f"sqlite:///{tmp_path / 'ch.db'}")
    state = ChannelState(env["CHANNELS_DB_URL"])
    worker = make_worker(env, state, poll_s=0.5 if capabilities else 30.0)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    try:
        thread.start()
        time.sleep(0.5)
        deliver(server, citizen_mail("居住证怎么办理？", message_id="<w@example.cn>"))
        started = time.monotonic()
        smtp_server.recorder.wait_for(1, timeout=15)
        assert time.monotonic() - started < 10  # IDLE wakes at once; polling within a few periods
    finally:
        worker.stop()
        thread.join(timeout=10)
        state.dispose()
        server.stop()
    assert not thread.is_alive()


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    full = {**os.environ, **env, "MAIL_CLAIM_STALE_S": "1", "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "channels.mail"], cwd=REPO, env=full,
                                stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.rasa
@pytest.mark.slow
def test_killed_between_receive_and_reply_the_restart_replies_exactly_once(
        dovecot: DovecotServer, smtp_server: SmtpServer, live_core: Any, tmp_path: Path) -> None:
    """A real worker process, the real core: SIGKILL after the core answered, before SMTP accepted."""
    env = mail_env(dovecot, smtp_server, live_core.rasa_url, f"sqlite:///{tmp_path / 'channels.db'}")
    citizen = "kill.test@example.cn"  # its own conversation in the session-wide core
    recorder = smtp_server.recorder
    recorder.stall_next = True
    deliver(dovecot, citizen_mail("1. 护照要多少钱？\n2. 身份证丢了怎么补？", sender=citizen,
                                  message_id="<kill@example.cn>"))
    log_path = tmp_path / "worker.log"
    first = _start_worker(env, log_path)
    try:
        assert recorder.stalled.wait(60), log_path.read_text()
        first.send_signal(signal.SIGKILL)  # received, answered by the core, reply not yet accepted
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    recorder.release.set()
    assert recorder.messages == []
    [flags] = mailbox_state(dovecot).values()
    assert HANDLED_KEYWORD not in flags

    second = _start_worker(env, log_path)
    try:
        recorder.wait_for(1, timeout=60)
        deadline = time.time() + 10
        while time.time() < deadline and HANDLED_KEYWORD not in next(iter(mailbox_state(dovecot).values())):
            time.sleep(0.1)
        time.sleep(1.5)  # a few more rounds: still nothing twice
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=15)
    assert second.returncode == 0, log_path.read_text()
    assert len(recorder.messages) == 1
    reply = text_part(recorder.messages[0])
    assert "护照要多少钱？" in reply and "120" in reply  # the knowledge base's answer, quoted with its question
    tracker = live_core.tracker(conversation_id(citizen))
    asked = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert asked == ["护照要多少钱？", "身份证丢了怎么补？"]  # the core was asked each question once
    [flags] = mailbox_state(dovecot).values()
    assert {SEEN, HANDLED_KEYWORD} <= flags
    assert "kill.test" not in log_path.read_text()  # no raw addresses in the logs


def test_missing_settings_stop_the_worker_with_one_clear_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIL_")}
    env["MAIL_IMAP_HOST"] = "127.0.0.1"
    res = subprocess.run([sys.executable, "-m", "channels.mail"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    for name in ("MAIL_IMAP_USER", "MAIL_IMAP_PASSWORD", "MAIL_SMTP_HOST", "MAIL_SMTP_FROM"):
        assert name in lines[0]
    assert "MAIL_IMAP_HOST" not in lines[0]
