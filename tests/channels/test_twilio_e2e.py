"""SMS and hotline IVR end to end: the real Rasa core and action server behind the real app server.

Only Twilio is simulated: webhooks are signed with twilio's ``RequestValidator`` exactly as
Twilio signs them, and outbound SMS go to a recording :class:`FakeSender`.
"""

from __future__ import annotations

import re

import pytest
import requests

from channels.sms import segments
from channels.voice import texts as voice_texts
from common.identity import number_hash
from tests.channels.twilio_helpers import (
    AGENT,
    Caller,
    post_signed,
    sms_form,
    texts_of,
    twiml,
)

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

SMS_PATH = "/channels/sms/webhook"


@pytest.fixture
def sample_applications(live_core):
    """The sample applications of knowledge/seed/applications.yml in the live core's database
    (the seeded template holds the catalogue only; loading is a no-op when already present)."""
    from casework.repository import CaseworkRepository
    from knowledge.db import make_engine, session_factory

    engine = make_engine(live_core.db_url)
    CaseworkRepository(session_factory(engine)).load_sample_applications()
    engine.dispose()


class Texter:
    """One citizen texting the city's number."""

    def __init__(self, client, phone: str):
        self.client, self.phone, self.n = client, phone, 0

    def send(self, body: str, sid: str | None = None) -> str:
        self.n += 1
        sid = sid or f"SM{abs(hash((self.phone, self.n))) % 10**32:032d}"
        doc = twiml(post_signed(self.client, SMS_PATH, sms_form(body, sid=sid, sender=self.phone)))
        replies = texts_of(doc, "/Response/Message")
        return replies[0] if replies else ""


def user_texts(live_core, sender_id: str) -> list[str]:
    tracker = requests.get(f"{live_core.rasa_url}/conversations/{sender_id}/tracker", timeout=30).json()
    return [e.get("text") for e in tracker.get("events", []) if e.get("event") == "user"]


def test_an_sms_faq_question_is_answered_from_the_knowledge_base(app_client):
    texter = Texter(app_client, "+8613800000101")
    reply = texter.send("办护照要带什么材料")
    # the short SMS form: one UCS-2 part, the key fact, and "更多" for the full answer
    assert "身份证" in reply and "回复“更多”" in reply and segments.parts(reply) == 1, reply
    full = texter.send("更多")
    assert "护照" in full and "身份证" in full, full


def test_a_full_sms_booking_with_numbered_options(app_client, live_core):
    t = Texter(app_client, "+8613800000102")
    reply = t.send("我想预约办护照")
    steps = [reply]
    # Answer every question of the booking form; numbered options are answered with "1".
    answers = {"服务中心": "天河", "哪一天": "下周三", "几点": "上午十点", "姓名": "陈示例", "手机": "13800000102"}
    for _ in range(10):
        if "预约成功" in reply:
            break
        if re.search(r"^1\. ", reply, re.M):
            reply = t.send("1")
        else:
            key = next((k for k in answers if k in reply), None)
            assert key, f"unexpected question: {reply!r}\nso far: {steps}"
            reply = t.send(answers.pop(key))
        steps.append(reply)
    assert "预约成功" in reply, steps
    assert re.search(r"YY\d{6}", reply)
    assert any("确认" in s for s in steps)
    assert live_core.last_code("13800000102") is None  # the SMS channel proved the sender's own number


def test_a_duplicated_sms_webhook_is_processed_once(app_client, live_core):
    t = Texter(app_client, "+8613800000103")
    sid = "SM" + "7" * 32
    first = t.send("结婚登记要带什么", sid=sid)
    second = t.send("结婚登记要带什么", sid=sid)
    assert first and first == second
    sender_id = "sms-" + number_hash("+8613800000103")
    assert user_texts(live_core, sender_id).count("结婚登记要带什么") == 1


def test_an_ivr_call_checks_an_application_status_by_keypad_and_sends_it_by_sms(app_client, sender,
                                                                                sample_applications):
    caller = Caller(app_client, call_sid="CA" + "3" * 32, caller="+8613800000104")
    caller.call()
    caller.answer("3")
    assert caller.said()[-1] == voice_texts.NUMBER_ENTRY
    caller.answer("202611100012")
    assert "二 零 二 六 一 一 一 零 零 零 一 二" in caller.said()[0]
    caller.answer("1")
    assert caller.said()[-1] == voice_texts.NUMBER_ENTRY  # now the last four digits
    caller.answer("1234")
    caller.answer("1")
    said = caller.said()
    assert any("护照" in s for s in said), said
    assert not any("http" in s for s in said)
    offer = next(s for s in said if "短信" in s)
    key = re.search(r"按(\d)", offer).group(1)
    assert offer == voice_texts.SMS_OFFER.format(digit=key)
    caller.answer(key)
    assert caller.said()[0] == voice_texts.SMS_SENT
    assert sender.sent and sender.sent[0][0] == "+8613800000104" and "护照" in sender.sent[0][1]


def test_an_ivr_caller_is_transferred_to_a_human(app_client):
    caller = Caller(app_client, call_sid="CA" + "4" * 32, caller="+8613800000105")
    caller.call()
    doc = caller.answer("0")
    assert doc.xpath("/Response/Dial/text()") == [AGENT]
    assert doc.xpath("/Response/Say")  # announced before dialling
