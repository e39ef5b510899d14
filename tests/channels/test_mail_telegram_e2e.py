"""Mailbox and Telegram end to end through the real Rasa core and action server (``live_core``).

Only the vendors are local stand-ins: a real Dovecot IMAP server and a real SMTP server
for mail, the local fake Bot API for Telegram. The last test books over Telegram and
finds and cancels the booking over SMS with its reference and phone number.
"""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.* are used as arguments

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from channels.core import CoreClient, CoreSettings
from channels.mail.verify import MailSettings
from channels.mail.worker import MailWorker, Outcome
from channels.state import ChannelState
from devtools.dovecot import DovecotServer
from devtools.fake_telegram import FakeBotAPI
from tests.channels.mailkit import (  # noqa: F401
    SmtpServer,
    citizen_mail,
    deliver,
    dovecot,
    mail_env,
    smtp_server,
)
from tests.channels.test_telegram import Poller, make_adapter

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


# -- mail ---------------------------------------------------------------------------------------
@pytest.fixture
def mail_worker(live_core: Any, dovecot: DovecotServer, smtp_server: SmtpServer,
                tmp_path: Path) -> Iterator[MailWorker]:
    env = mail_env(dovecot, smtp_server, live_core.rasa_url, f"sqlite:///{tmp_path / 'mail.db'}")
    state = ChannelState(env["CHANNELS_DB_URL"])
    yield MailWorker(MailSettings.from_env(env), core=CoreClient(CoreSettings.from_env(env)), state=state)
    state.dispose()


def round_trip(worker: MailWorker) -> list[str]:
    client = worker.connect()
    try:
        return [r.outcome for r in worker.process_pending(client).values()]
    finally:
        client.logout()


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def test_a_mail_with_two_questions_gets_both_answers_from_the_knowledge_base(
        mail_worker: MailWorker, dovecot: DovecotServer, smtp_server: SmtpServer) -> None:
    body = "您好：\n1. 办护照要带什么材料？\n2. 结婚登记要带什么？\n谢谢！\n-- \n王五"
    deliver(dovecot, citizen_mail(body, subject="咨询两个问题", sender="wang.wu@example.cn",
                                  message_id="<e2e-two@example.cn>"))
    assert round_trip(mail_worker) == [Outcome.REPLIED]
    text = plain(smtp_server.recorder.messages[0])
    first, second = text.split("问题2：", 1)
    assert "问题1：" in first and "身份证" in first and "护照" in first
    assert "结婚" in second and "户口" in second


def test_a_big5_mail_is_understood(mail_worker: MailWorker, dovecot: DovecotServer, smtp_server: SmtpServer) -> None:
    deliver(dovecot, citizen_mail("請問辦護照要帶什麼材料？", charset="big5", sender="chan@example.hk",
                                  message_id="<e2e-big5@example.hk>"))
    assert round_trip(mail_worker) == [Outcome.REPLIED]
    assert "身份证" in plain(smtp_server.recorder.messages[0])


def test_a_complaint_letter_gets_its_case_number_in_the_first_reply(
        mail_worker: MailWorker, dovecot: DovecotServer, smtp_server: SmtpServer, live_core: Any) -> None:
    """A letter cannot answer follow-up questions in the same turn: the core takes the place and
    phone the letter gives, so the very first reply carries the tracking number."""
    citizen = "li.complaint@example.cn"
    letter = ("我家楼下的工地每天晚上十一点以后还在施工，噪音很大，孩子没法睡觉，已经持续两个星期了。\n"
              "地址：天河区体育西路某某小区东门\n联系电话：13900004321")
    deliver(dovecot, citizen_mail(letter, subject="投诉夜间施工噪音", sender=citizen, message_id="<c-1@example.cn>"))
    assert round_trip(mail_worker) == [Outcome.REPLIED]
    reply = plain(smtp_server.recorder.wait_for(1)[0])
    number = re.search(r"受理编号：([A-Z]{2}\d+)", reply)
    assert number, reply
    from sqlalchemy import create_engine, text

    engine = create_engine(live_core.db_url)  # where the action server writes cases
    with engine.connect() as conn:
        case = conn.execute(text("SELECT description, location, channel, phone_last4, kind, reply_thread, reply_to, "
                                 "due_at FROM cases WHERE number = :n"),
                            {"n": number.group(1)}).one()
    engine.dispose()
    assert "施工" in case.description and case.location == "天河区体育西路某某小区东门" and case.channel == "mail"
    assert case.phone_last4 == "4321"
    # The department's answer will reach the writer in this letter's thread (the address is sealed).
    assert case.kind == "complaint" and case.reply_thread == "<c-1@example.cn>" and case.due_at is not None
    assert case.reply_to and citizen not in case.reply_to


# -- Telegram ------------------------------------------------------------------------------------
@pytest.fixture
def live_poller(fake_telegram: FakeBotAPI, live_core: Any, tmp_path: Path) -> Iterator[Poller]:
    p = Poller(make_adapter(fake_telegram, live_core.rasa_url, tmp_path / "tg.db"))
    p.start()
    yield p
    p.stop()
    p.adapter.state.dispose()


class TelegramCitizen:
    """One citizen chatting with the bot through the fake Bot API."""

    def __init__(self, api: FakeBotAPI, chat_id: int):
        self.api, self.chat_id = api, chat_id

    def _wait_new(self, before: int) -> list[dict[str, Any]]:
        deadline = time.time() + 60
        seen = -1
        while time.time() < deadline:
            now = len(self.api.messages_to(self.chat_id))
            if now > before and now == seen:  # settled: the whole answer arrived
                return self.api.messages_to(self.chat_id)[before:]
            seen = now
            time.sleep(0.4)
        raise AssertionError(f"no answer; so far {[m['text'] for m in self.api.messages_to(self.chat_id)]}")

    def say(self, text: str) -> list[dict[str, Any]]:
        before = len(self.api.messages_to(self.chat_id))
        self.api.push_text(self.chat_id, text)
        return self._wait_new(before)

    def press(self, message: dict[str, Any], index: int = 0) -> list[dict[str, Any]]:
        before = len(self.api.messages_to(self.chat_id))
        self.api.push_callback(self.chat_id, message["reply_markup"]["inline_keyboard"][index][0]["callback_data"],
                               message)
        return self._wait_new(before)


def joined(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


def test_telegram_start_and_a_guide_question(live_poller: Poller, fake_telegram: FakeBotAPI) -> None:
    citizen = TelegramCitizen(fake_telegram, 7000001)
    assert "市民服务助手" in joined(citizen.say("/start"))
    answer = joined(citizen.say("办护照要带什么材料"))
    assert "护照" in answer and "身份证" in answer


def book_over_telegram(citizen: TelegramCitizen, phone: str, live_core: Any) -> str:
    """Book a passport appointment, pressing inline buttons where offered; returns the reference.

    Telegram does not prove the phone: the SMS code is read from the core's development sink.
    """
    answers = {"验证码": "", "服务中心": "天河", "哪一天": "下周三", "几点": "上午十点", "姓名": "陈示例", "手机": phone}
    replies = citizen.say("我想预约办护照")
    steps = [joined(replies)]
    for _ in range(12):
        text = joined(replies)
        if "预约成功" in text:
            break
        with_buttons = [m for m in replies if m.get("reply_markup")]
        key = next((k for k in answers if k in text), None)
        if with_buttons and (key is None or "确认预约" in text):
            replies = citizen.press(with_buttons[-1], 0)
        else:
            assert key, f"unexpected question: {text!r}\nso far: {steps}"
            answer = answers.pop(key)
            replies = citizen.say(answer if key != "验证码" else live_core.last_code(phone))
        steps.append(joined(replies))
    text = joined(replies)
    assert "预约成功" in text, steps
    ref = re.search(r"YY\d{6}", text)
    assert ref, text
    return ref.group(0)


def test_booked_over_telegram_found_and_cancelled_over_sms(live_poller: Poller, fake_telegram: FakeBotAPI,
                                                           live_core: Any, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    phone = "13800007788"
    ref = book_over_telegram(TelegramCitizen(fake_telegram, 7000002), phone, live_core)

    from server.app import create_app
    from tests.channels.test_twilio_e2e import Texter
    from tests.channels.twilio_helpers import BASE, TOKEN

    monkeypatch.setenv("RASA_URL", live_core.rasa_url)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    monkeypatch.delenv("RELAY_TOKEN", raising=False)
    state = ChannelState(f"sqlite:///{tmp_path / 'sms.db'}")
    try:
        sms = Texter(create_app({"CHANNEL_STATE": state}).test_client(), "+86" + phone)
        sms.send("查一下我的预约")
        sms.send(ref)
        found = sms.send(phone)
        assert ref in found and "天河" in found, found
        # The core may already know the reference and phone from the lookup and skip asking again.
        replies = [sms.send("我要取消预约")]
        for answer in (ref, phone):
            if "已为您取消预约" in replies[-1]:
                break
            replies.append(sms.send(answer))
        assert "已为您取消预约" in replies[-1] and ref in replies[-1], replies
    finally:
        state.dispose()
