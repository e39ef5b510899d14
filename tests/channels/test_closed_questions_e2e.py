"""Every closed question the bot asks, answered with a typed yes, a typed no, a number and the
option's name, on web chat, SMS and the hotline: the real Rasa core and action server behind
the real app server. Only Twilio is simulated (webhooks signed with twilio's RequestValidator).

The citizen's reply is read against the pending question in the core
(``ClosedQuestionPolicy`` → ``action_resolve_reply``), so all channels behave alike.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.channels.twilio_helpers import (
    Caller,
    post_signed,
    sms_form,
    texts_of,
    twiml,
)

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

_serial = itertools.count(1)




class Citizen:
    """One citizen on one channel: ``say`` types or speaks, ``press`` picks a number."""

    handed_over = False
    live_core: Any = None  # where the SMS codes the core sent can be read (its development sink)

    def say(self, text: str) -> str:  # pragma: no cover - every channel overrides
        raise NotImplementedError

    def press(self, number: str) -> str:
        """A number: typed on web chat and SMS (overridden by the keypad on voice)."""
        return self.say(number)

    def phone(self, number: str) -> str:
        """A phone number, as the channel takes one."""
        return self.say(number)

    def code(self, digits: str) -> str:
        """A code the bot asked for (typed; keyed in and confirmed on voice)."""
        return self.press(digits)


class WebChat(Citizen):
    """The web chat page's API (``POST /chat/api/message``)."""

    def __init__(self, client, n: int):
        self.client = client.application.test_client()  # its own cookie jar: its own server-issued session

    def say(self, text: str) -> str:
        res = self.client.post("/chat/api/message", json={"message": text})
        assert res.status_code == 200, res.get_data(as_text=True)
        messages = res.get_json()["messages"]
        # the hotline's hand-off, or the live agent desk's offer (open) / leave-a-message (closed)
        self.handed_over = any((m.get("custom") or {}).get("handoff") or (m.get("custom") or {}).get("live_agent")
                               for m in messages)
        lines = [m.get("text") or "" for m in messages]
        lines += [b["title"] for m in messages for b in m.get("buttons") or ()]
        return "\n".join(lines)


class Sms(Citizen):
    """A mobile phone texting the city's number (signed Twilio webhooks)."""

    def __init__(self, client, n: int):
        self.client, self.number = client, f"+86139{n:04d}{n:04d}"[:14]

    def say(self, text: str) -> str:
        sid = f"SM{next(_serial):032d}"
        doc = twiml(post_signed(self.client, "/channels/sms/webhook", sms_form(text, sid=sid, sender=self.number)))
        reply = "\n".join(texts_of(doc, "/Response/Message"))
        self.handed_over = ("12345" in reply and "转人工" in reply) or "接通人工" in reply or "非人工服务时间" in reply
        return reply


class Voice(Citizen):
    """A caller on the hotline: speech for words, the keypad for numbers."""

    def __init__(self, client, n: int):
        self.caller = Caller(client, call_sid=f"CA{n:032d}", caller=f"+86139{n:04d}{n:04d}"[:14])
        self.caller.call()

    def _heard(self) -> str:
        doc = self.caller.doc
        self.handed_over = bool(doc.xpath("//Dial"))
        return "\n".join(self.caller.said())

    def say(self, text: str) -> str:
        self.caller.answer(speech=text)
        return self._heard()

    def press(self, number: str) -> str:
        self.caller.answer(number)
        return self._heard()

    def phone(self, number: str) -> str:
        self.caller.answer(number)  # keypad number entry (the question's hint), read back
        assert "您输入的是" in "".join(self.caller.said())
        self.caller.answer("1")
        return self._heard()

    code = phone  # six digits on the keypad, read back and confirmed the same way


CHANNELS: dict[str, Callable[..., Citizen]] = {"webchat": WebChat, "sms": Sms, "voice": Voice}


@pytest.fixture(params=sorted(CHANNELS))
def citizen(request, app_client, live_core) -> Citizen:
    person = CHANNELS[request.param](app_client, next(_serial))
    person.live_core = live_core
    return person


def answer_of(citizen: Citizen, reply: str) -> str:
    """The whole answer: on SMS a short form ends with the "更多" hint, and "更多" brings the full text."""
    if isinstance(citizen, Sms) and "回复“更多”" in reply:
        return reply + "\n" + citizen.say("更多")
    return reply


def key_of(reply: str, title: str, position: int) -> str:
    """The number that picks ``title``: SMS shows "n. title", voice says "title，请按n", web chat numbers by position."""
    for pattern in (rf"(\d)\. {re.escape(title)}", rf"{re.escape(title)}，请按(\d)"):
        match = re.search(pattern, reply)
        if match:
            return match.group(1)
    return str(position)


# -- "您是想了解…吗？" -------------------------------------------------------------------------
DID_YOU_MEAN = "驾照快到期了，换个新本要去哪换，体检要做吗"
SERVICE = "机动车驾驶证期满换证"


@pytest.mark.parametrize("how", ["yes", "number", "name"])
def test_did_you_mean_answered_gives_the_guide(citizen, how):
    asked = citizen.say(DID_YOU_MEAN)
    assert "您是想了解" in asked and SERVICE in asked
    reply = {"yes": lambda: citizen.say("对，就是这个"), "number": lambda: citizen.press(key_of(asked, SERVICE, 1)),
             "name": lambda: citizen.say(SERVICE)}[how]()
    reply = answer_of(citizen, reply)
    assert "驾驶证" in reply and "还有什么可以帮您" not in reply, reply


def test_did_you_mean_declined_asks_to_rephrase_and_offers_a_person_or_a_message(citizen):
    citizen.say(DID_YOU_MEAN)
    reply = citizen.say("唔系")
    assert "换个说法" in reply, reply
    if not isinstance(citizen, Voice):
        assert "转人工" in reply and "留言" in reply
    handed = citizen.press(key_of(reply, "转人工", 1))
    assert citizen.handed_over or "人工" in handed, handed


# -- "which one?" ----------------------------------------------------------------------------
WHICH = "登记要带什么"


@pytest.mark.parametrize("how", ["yes", "no", "number", "name"])
def test_the_which_one_choice(citizen, how):
    asked = citizen.say(WHICH)
    assert "结婚登记" in asked and "生育登记" in asked, asked
    position = 1 + [t for t in ("生育登记", "结婚登记", "离婚登记") if t in asked].index("结婚登记")
    if how == "yes":
        assert "选择其中一项" in citizen.say("好的")  # a yes does not say which
        reply = citizen.say("结婚登记")  # the question is still pending
    elif how == "no":
        reply = citizen.say("都唔系")
        assert "换个说法" in reply, reply
        return
    elif how == "number":
        reply = citizen.press(key_of(asked, "结婚登记", position))
    else:
        reply = citizen.say("结婚登记")
    reply = answer_of(citizen, reply)
    assert "结婚" in reply and "选择" not in reply, reply


# -- "需要转人工吗？" --------------------------------------------------------------------------
NOT_FOUND = "办证要带什么"


@pytest.mark.parametrize(("how", "hands_over"), [("yes", True), ("no", False), ("number", True), ("name", True)])
def test_the_offer_of_a_person(citizen, how, hands_over):
    asked = citizen.say(NOT_FOUND)
    assert "转人工" in asked, asked
    {"yes": lambda: citizen.say("好的"), "no": lambda: citizen.say("不用了"),
     "number": lambda: citizen.press(key_of(asked, "转人工", 1)), "name": lambda: citizen.say("转人工")}[how]()
    assert citizen.handed_over is hands_over


# -- "确认预约吗？" and the rating -------------------------------------------------------------
DAYS = ("下周二", "下周三", "下周四")
TIMES = ("上午九点", "上午十点", "上午九点半", "下午两点", "下午三点", "下午四点")


def book_until_confirmation(citizen: Citizen, n: int) -> str:
    """Book a passport appointment up to "确认预约吗？" (a different slot each time: capacity 5)."""
    when = DAYS[n % len(DAYS)] + TIMES[(n // len(DAYS)) % len(TIMES)]
    reply = citizen.say(f"我想预约{when}去天河办护照")
    phone = f"1390000{n:04d}"[-11:]  # not the SMS/voice caller's own number: a code is asked on every channel
    for _ in range(7):
        if "确认预约" in reply:
            return reply
        if "验证码" in reply:
            reply = citizen.code(citizen.live_core.last_code(phone))
        elif "姓名" in reply:
            reply = citizen.say("陈示例")
        elif "手机" in reply:
            reply = citizen.phone(phone)
        elif "几点" in reply or "时段" in reply:
            offered = re.findall(r"[上下]午\d{1,2}:\d{2}", reply)  # the free slots offered, by name
            reply = citizen.say(offered[n % len(offered)] if offered else TIMES[n % len(TIMES)])
        else:
            pytest.fail(f"unexpected question: {reply!r}")
    pytest.fail(f"no confirmation: {reply!r}")


@pytest.mark.parametrize(("how", "books"), [("yes", True), ("no", False), ("number", True), ("number_no", False),
                                            ("name", True)])
def test_the_booking_confirmation(citizen, how, books):
    asked = book_until_confirmation(citizen, next(_serial))
    reply = {"yes": lambda: citizen.say("系"), "no": lambda: citizen.say("不要"),
             "number": lambda: citizen.press(key_of(asked, "确认预约", 1)),
             "number_no": lambda: citizen.press(key_of(asked, "取消", 2)),
             "name": lambda: citizen.say("确认预约")}[how]()
    assert ("预约成功" in reply) is books, reply
    if not books:
        assert "已为您取消" in reply, reply


@pytest.mark.parametrize("rating", ["5", "5分"])  # "非常满意", "五星", "５": tests/actions
def test_a_rating_of_five_is_very_satisfied_however_it_is_given(citizen, live_core, rating):
    from casework.repository import CaseworkRepository
    from knowledge.db import make_engine, session_factory

    asked = book_until_confirmation(citizen, next(_serial))
    done = citizen.press(key_of(asked, "确认预约", 1))
    assert "预约成功" in done and "5分最满意" in done, done
    if isinstance(citizen, Sms):
        assert "5. 非常满意" in done and "1. 非常不满意" in done  # the number is the score
    engine = make_engine(live_core.db_url)
    try:
        before = len(CaseworkRepository(session_factory(engine)).ratings())
        thanks = citizen.press(rating) if rating == "5" else citizen.say(rating)
        assert "感谢您的评价" in thanks, thanks
        ratings = CaseworkRepository(session_factory(engine)).ratings()
    finally:
        engine.dispose()
    assert len(ratings) == before + 1 and ratings[-1].score == 5
