"""The outbox worker with each channel's sender against its real or stand-in peer.

SMS: the Twilio client against a local stand-in of the Messages endpoint (devtools/fake_twilio_rest.py);
Telegram: the fake Bot API; mail: real aiosmtpd + Dovecot; web chat: the app server's notices endpoint.
"""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.mailkit are used as arguments

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from casework.outbox import NoticeStatus, Outbox, OutboxPolicy, QuietHours
from channels.mail.notices import MailNoticeSender, notice_message_id
from channels.mail.verify import MailSettings
from channels.outbound import Notice
from channels.sms.notices import SmsNoticeSender
from channels.sms_sender import TwilioSmsSender
from channels.state import ChannelState
from channels.telegram.notices import TelegramNoticeSender
from channels.telegram.verify import TelegramSettings
from channels.webchat.notices import WebchatNoticeBox
from common.clock import CITY_TZ
from common.identity import hash_sender
from common.sealing import Sealer, make_sealer
from devtools.dovecot import DovecotServer
from devtools.fake_telegram import FakeBotAPI
from devtools.fake_twilio_rest import FakeTwilioRest
from devtools.fake_twilio_rest import serve as serve_twilio
from knowledge.models import utcnow
from server.outbox_worker import OutboxWorker, Outcome, WorkerSettings
from tests.channels.mailkit import (  # noqa: F401 - fixtures
    MAILBOX_PASSWORD,
    MAILBOX_USER,
    SmtpServer,
    dovecot,
    mail_env,
    smtp_server,
)

PHONE = "+8613800138000"
SMS_FROM = "+15005550006"


@pytest.fixture
def outbox(db_url: str) -> Iterator[Outbox]:
    from knowledge.db import make_engine, session_factory

    engine = make_engine(db_url)
    yield Outbox(session_factory(engine), sealer=Sealer(make_sealer(Fernet.generate_key().decode())),
                 policy=OutboxPolicy(lease_s=30, send_timeout_s=5, max_attempts=3))  # no quiet hours: tests run at night
    engine.dispose()


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ChannelState]:
    st = ChannelState(f"sqlite:///{tmp_path / 'channels.db'}")
    yield st
    st.dispose()


@pytest.fixture
def twilio() -> Iterator[FakeTwilioRest]:
    with serve_twilio() as api:
        yield api


def sms_sender(twilio: FakeTwilioRest, state: ChannelState) -> SmsNoticeSender:
    sms = TwilioSmsSender(twilio.account_sid, twilio.auth_token, SMS_FROM, state)
    sms.client.api.base_url = twilio.url
    return SmsNoticeSender(sms)


def worker(outbox: Outbox, **senders: Any) -> OutboxWorker:
    return OutboxWorker(outbox, senders, WorkerSettings(worker_id="test-worker", poll_s=0.1))


def expire_leases(outbox: Outbox) -> None:
    with outbox.factory() as s:
        s.execute(text("update outbox set claimed_until = :t where status = 'sending'"),
                  {"t": utcnow() - dt.timedelta(seconds=1)})
        s.commit()


# -- SMS ------------------------------------------------------------------------------------------
def test_an_sms_notice_reaches_the_twilio_stand_in_once(outbox: Outbox, state: ChannelState,
                                                      twilio: FakeTwilioRest) -> None:
    outbox.enqueue(key="k1", kind="test", channel="sms", recipient="13800138000", body="您的诉求已有答复。")
    w = worker(outbox, sms=sms_sender(twilio, state))
    assert w.run_once() == {Outcome.SENT: 1}
    assert w.run_once() == {}
    [message] = twilio.messages
    assert message["to"] == PHONE and message["from"] == SMS_FROM and message["body"] == "您的诉求已有答复。"
    assert message["num_segments"] == "1"
    row = outbox.get("k1")
    assert row is not None and row.status == NoticeStatus.sent and row.provider_ref == message["sid"]


def test_an_opted_out_number_is_refused_and_never_retried(outbox: Outbox, state: ChannelState,
                                                          twilio: FakeTwilioRest) -> None:
    state.set_opt_out("sms", hash_sender(PHONE), True)  # the citizen replied 退订
    twilio.stopped.add("+8613900139000")  # and another one replied STOP at the carrier
    outbox.enqueue(key="k1", kind="test", channel="sms", recipient=PHONE, body="通知")
    outbox.enqueue(key="k2", kind="test", channel="sms", recipient="+8613900139000", body="通知")
    w = worker(outbox, sms=sms_sender(twilio, state))
    assert w.run_once() == {Outcome.REFUSED: 2}
    expire_leases(outbox)
    assert w.run_once() == {}
    assert twilio.messages == []
    assert outbox.counts() == {"refused": 2}


def test_a_provider_failure_is_retried_with_backoff(outbox: Outbox, state: ChannelState,
                                                    twilio: FakeTwilioRest) -> None:
    sender = sms_sender(twilio, state)
    twilio.auth_token = "rotated"  # every call now answers 401
    outbox.enqueue(key="k1", kind="test", channel="sms", recipient=PHONE, body="通知")
    w = worker(outbox, sms=sender)
    assert w.run_once() == {Outcome.FAILED: 1}
    row = outbox.get("k1")
    assert row is not None and row.status == NoticeStatus.pending and "401" in row.last_error
    assert row.next_attempt_at.replace(tzinfo=dt.timezone.utc) > utcnow() + dt.timedelta(seconds=20)


def test_a_send_whose_record_was_lost_is_found_at_twilio_not_sent_again(outbox: Outbox, state: ChannelState,
                                                                      twilio: FakeTwilioRest) -> None:
    sender = sms_sender(twilio, state)
    outbox.enqueue(key="k1", kind="test", channel="sms", recipient=PHONE, body="您的申请已办好。")
    [claimed] = outbox.claim("dead-worker")
    sid = sender.send_notice(Notice(key="k1", to=PHONE, text="您的申请已办好。"))  # … and the worker died here
    expire_leases(outbox)
    assert worker(outbox, sms=sender).run_once() == {Outcome.RECONCILED: 1}
    assert len(twilio.messages) == 1
    row = outbox.get("k1")
    assert row is not None and row.status == NoticeStatus.sent and row.provider_ref == sid
    assert outbox.mark_sent(claimed, "late") is False


def test_sms_is_held_in_quiet_hours(outbox: Outbox, state: ChannelState, twilio: FakeTwilioRest) -> None:
    now = dt.datetime.now(CITY_TZ)
    window = QuietHours((now - dt.timedelta(hours=1)).time(), (now + dt.timedelta(hours=1)).time())
    outbox._policy = dataclasses.replace(outbox.policy, quiet_hours={"sms": window})
    outbox.enqueue(key="k1", kind="test", channel="sms", recipient=PHONE, body="通知")
    row = outbox.get("k1")
    assert row is not None and row.status == NoticeStatus.held  # queued inside the window: held at once
    with outbox.factory() as s:  # one queued before the window began, retried inside it
        s.execute(text("update outbox set status = 'pending', next_attempt_at = :t"),
                  {"t": utcnow() - dt.timedelta(seconds=1)})
        s.commit()
    assert worker(outbox, sms=sms_sender(twilio, state)).run_once() == {Outcome.HELD: 1}
    row = outbox.get("k1")
    assert row is not None and row.status == NoticeStatus.held and row.attempts == 0
    assert abs(row.next_attempt_at.replace(tzinfo=dt.timezone.utc) - window.holds_until(now)) < dt.timedelta(
        seconds=1)  # type: ignore[operator]
    assert twilio.messages == []


def test_a_channel_without_a_sender_is_retried_later(outbox: Outbox) -> None:
    outbox.enqueue(key="k1", kind="test", channel="telegram", recipient="42", body="通知")
    assert worker(outbox).run_once() == {Outcome.NO_SENDER: 1}
    row = outbox.get("k1")
    assert row is not None and row.status == NoticeStatus.pending


# -- Telegram -------------------------------------------------------------------------------------
def test_a_telegram_notice_reaches_the_chat_once_even_when_its_record_was_lost(
        outbox: Outbox, state: ChannelState, fake_telegram: FakeBotAPI) -> None:
    settings = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": fake_telegram.token,
                                          "TELEGRAM_API_BASE_URL": fake_telegram.url})
    sender = TelegramNoticeSender(settings, state)
    outbox.enqueue(key="t1", kind="test", channel="telegram", recipient="4242", body="您的诉求已有答复。")
    outbox.enqueue(key="t2", kind="test", channel="telegram", recipient="4343", body="第二条")
    assert len(outbox.claim("dead-worker")) == 2
    sender.send_notice(Notice(key="t1", to="4242", text="您的诉求已有答复。"))  # sent, then the worker died
    expire_leases(outbox)
    assert worker(outbox, telegram=sender).run_once() == {Outcome.RECONCILED: 1, Outcome.SENT: 1}
    assert [m["text"] for m in fake_telegram.messages_to(4242)] == ["您的诉求已有答复。"]
    assert [m["text"] for m in fake_telegram.messages_to(4343)] == ["第二条"]
    state.set_opt_out("telegram", hash_sender("4444"), True)
    outbox.enqueue(key="t3", kind="test", channel="telegram", recipient="4444", body="通知")
    assert worker(outbox, telegram=sender).run_once() == {Outcome.REFUSED: 1}
    assert fake_telegram.messages_to(4444) == []


# -- mail -----------------------------------------------------------------------------------------
def test_a_mail_notice_replies_in_the_citizens_thread_and_is_kept_in_sent(
        outbox: Outbox, state: ChannelState, dovecot: DovecotServer, smtp_server: SmtpServer) -> None:
    env = mail_env(dovecot, smtp_server, "http://127.0.0.1:9", "sqlite://")
    settings = MailSettings.from_env(env)
    sender = MailNoticeSender(settings, state, env={})
    letter = "<letter-7@example.cn>"
    outbox.enqueue(key="case_replied:TS1:1", kind="case_replied", channel="mail", recipient="li.si@example.cn",
                   body="您的来信已由市交通运输局答复。", subject="关于您的来信的答复", thread=letter)
    assert worker(outbox, mail=sender).run_once() == {Outcome.SENT: 1}
    [mail] = smtp_server.recorder.wait_for(1)
    assert mail["To"] == "li.si@example.cn" and mail["Subject"] == "关于您的来信的答复"
    assert mail["In-Reply-To"] == letter and mail["References"] == letter
    assert mail["Message-ID"] == notice_message_id("case_replied:TS1:1", settings.smtp_from)
    assert mail["Auto-Submitted"] == "auto-replied"
    assert "市交通运输局" in mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    notice = Notice(key="case_replied:TS1:1", to="li.si@example.cn", text="x")
    assert sender.find_notice(notice, utcnow()) == mail["Message-ID"]
    assert sender.find_notice(dataclasses.replace(notice, key="other"), utcnow()) is None
    # a worker that died after SMTP accepted: the next one finds it in Sent, nothing twice
    with outbox.factory() as s:
        s.execute(text("update outbox set status = 'sending', attempts = 1, first_attempt_at = :t"),
                  {"t": utcnow()})
        s.commit()
    expire_leases(outbox)
    assert worker(outbox, mail=sender).run_once() == {Outcome.RECONCILED: 1}
    assert len(smtp_server.recorder.messages) == 1


def test_an_opted_out_mail_address_is_refused(outbox: Outbox, state: ChannelState, dovecot: DovecotServer,
                                              smtp_server: SmtpServer) -> None:
    sender = MailNoticeSender(MailSettings.from_env(mail_env(dovecot, smtp_server, "http://127.0.0.1:9", "sqlite://")),
                              state, env={})
    state.set_opt_out("mail", hash_sender("wang@example.cn"), True)
    outbox.enqueue(key="m", kind="test", channel="mail", recipient="Wang@Example.cn", body="通知", subject="通知")
    assert worker(outbox, mail=sender).run_once() == {Outcome.REFUSED: 1}
    assert smtp_server.recorder.messages == []


# -- web chat -------------------------------------------------------------------------------------
def test_a_web_chat_notice_is_shown_once_when_the_session_opens_the_chat(
        outbox: Outbox, state: ChannelState, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.app import create_app

    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:9")
    sid = "0123456789abcdef0123456789abcdef"  # a session the relay issued (signed cookie below)
    box = WebchatNoticeBox(state)
    outbox.enqueue(key="w1", kind="test", channel="webchat", recipient=f"webchat-{sid}", body="您的诉求已有答复。")
    outbox.enqueue(key="w2", kind="test", channel="webchat", recipient="webchat-" + "f" * 32, body="别人的通知")
    w = worker(outbox, webchat=box)
    assert w.run_once() == {Outcome.SENT: 2}
    box.send_notice(Notice(key="w1", to=sid, text="您的诉求已有答复。"))  # a retried send stores nothing new
    app = create_app({"TESTING": True, "CHANNEL_STATE": state})
    client = app.test_client()
    assert client.post("/chat/api/notices", json={"sender": sid}).get_json() == {"notices": []}  # no cookie: none
    with app.test_request_context():
        from channels.webchat.relay import SESSION_COOKIE, _serializer

        client.set_cookie(SESSION_COOKIE, _serializer().dumps(sid), path="/chat")
    first = client.post("/chat/api/notices", json={})
    assert first.status_code == 200
    assert [n["text"] for n in first.get_json()["notices"]] == ["您的诉求已有答复。"]
    assert client.post("/chat/api/notices", json={}).get_json() == {"notices": []}
    assert box.find_notice(Notice(key="w1", to=sid, text=""), utcnow()) is not None  # shown, still recorded
    page = client.get("/chat/")
    assert b"api/notices" in page.data  # the page asks for them when it loads


def test_the_worker_starts_the_senders_whose_settings_are_complete(state: ChannelState,
                                                                   twilio: FakeTwilioRest) -> None:
    from server.outbox_worker import build_senders

    assert set(build_senders({}, state)) == {"webchat"}
    twilio_env = {"TWILIO_ACCOUNT_SID": twilio.account_sid, "TWILIO_AUTH_TOKEN": twilio.auth_token,
                  "TWILIO_SMS_FROM": SMS_FROM, "TWILIO_API_BASE_URL": twilio.url,
                  "TELEGRAM_BOT_TOKEN": "123456789:AAEfakeTokenForLocalTestsOnly_abcdefgh"}
    senders = build_senders(twilio_env, state)
    assert set(senders) == {"webchat", "sms", "telegram"}
    assert senders["sms"].sms.client.api.base_url == twilio.url
    with pytest.raises(ValueError, match="TWILIO_API_BASE_URL"):
        build_senders({**twilio_env, "TWILIO_API_BASE_URL": "ftp://x"}, state)
