"""SMS and hotline IVR end to end: the real Rasa core and action server behind the real app server.

Only Twilio is simulated: webhooks are signed with twilio's ``RequestValidator`` exactly as
Twilio signs them, and outbound SMS go to a recording :class:`FakeSender`.
"""

from __future__ import annotations

import re

import pytest

from channels.sms import segments
from channels.voice import texts as voice_texts
from common.identity import hash_sender, number_hash
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
    tracker = live_core.tracker(sender_id)
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


# -- issue 15: the rating scale, a whole IVR call ------------------------------------------------
def _ratings(live_core) -> list[tuple[int, str, str]]:
    from casework.repository import CaseworkRepository
    from knowledge.db import make_engine, session_factory

    engine = make_engine(live_core.db_url)
    try:
        return [(r.score, r.channel, r.sender_hash) for r in CaseworkRepository(session_factory(engine)).ratings()]
    finally:
        engine.dispose()


def _status_then_rating(t: Texter) -> str:
    """Look up the sample application by SMS until the rating question comes."""
    reply = t.send("查询办理进度")
    for answer in ("202611100012", "1234"):
        if "打个分" in reply:
            break
        reply = t.send(answer)
    assert "打个分" in reply, reply
    return reply


@pytest.mark.parametrize(("phone", "said"), [("+8613800000111", "5"), ("+8613800000112", "5分")])
def test_an_sms_rating_of_5_or_5_fen_records_very_satisfied(app_client, live_core, sample_applications, phone, said):
    t = Texter(app_client, phone)
    question = _status_then_rating(t)
    assert "5. 非常满意" in question and "1. 非常不满意" in question, question
    t.send(said)
    conversation = hash_sender("sms-" + number_hash(phone))  # ratings carry the conversation's pseudonym
    ratings = _ratings(live_core)
    mine = [score for score, channel, sender in ratings if channel == "sms" and sender == conversation]
    assert mine == [5], ratings  # 5 = 非常满意 (common scale: 5 best, 1 worst)


def test_a_whole_ivr_call_with_keypad_speech_low_confidence_and_the_after_answer_menu(app_client, sample_applications):
    caller = Caller(app_client, call_sid="CA" + "9" * 32, caller="+8613800000113")
    caller.call(language=None)
    assert caller.said()[1:] == [line for _, _, line in voice_texts.language_choice()]
    caller.answer("1")  # 普通话
    assert caller.said() == [voice_texts.RECORDING_NOTICE, voice_texts.MENU]
    caller.answer(speech="结婚登记要带什么材料", confidence=0.42)  # unsure: confirmed first
    assert caller.said() == [voice_texts.CONFIRM_SPEECH.format(text="结婚登记要带什么材料")]
    caller.answer("1")
    said = caller.said()
    assert any("身份证" in s or "户口" in s for s in said), said
    assert said[-1] == voice_texts.AFTER_ANSWER and not any("http" in s for s in said)
    caller.answer("3")  # a main-menu key straight after the answer: 查询办理进度
    assert caller.said()[-1] == voice_texts.NUMBER_ENTRY
    caller.answer(speech="二零二六一一一零零零一二", confidence=0.5)  # a number heard unsure is never used
    assert caller.said()[-1] == voice_texts.NUMBER_BY_KEYPAD
    caller.answer("202611100012#")
    caller.answer("1")  # the read-back is right
    assert caller.said()[-1] == voice_texts.NUMBER_ENTRY  # the last four digits
    caller.answer("1234#")
    caller.answer("1")
    said = caller.said()
    assert any("护照" in s for s in said), said
    caller.answer("*")
    assert caller.said() == [voice_texts.MENU]


def test_a_cantonese_call_is_spoken_in_cantonese_and_remembered(app_client):
    yue = voice_texts.for_language("yue")
    caller = Caller(app_client, call_sid="CA" + "8" * 31 + "1", caller="+8613800000114")
    caller.call(language="2")
    assert caller.said() == [yue.recording_notice, yue.menu]
    caller.answer(speech="辦護照要帶乜嘢材料", confidence=0.85)
    doc = caller.doc
    assert {s.get("voice") for s in doc.xpath("//Say")} == {"Google.yue-HK-Standard-A"}
    assert doc.xpath("//Gather/@language") == ["yue-Hant-HK"]
    said = caller.said()
    assert any("護照" in s and "身份證" in s for s in said), said  # the answer, read in HK characters
    assert said[-1] == yue.after_answer
    again = Caller(app_client, call_sid="CA" + "8" * 31 + "2", caller="+8613800000114")
    again.call(language=None)
    assert again.said() == [yue.greeting, yue.recording_notice, yue.menu]
