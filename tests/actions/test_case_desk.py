"""Cases on the citizen side: the answer in a status lookup, its rating, leaving a message."""

from __future__ import annotations

import asyncio

import pytest

from actions.application_status import ActionCheckStatus
from actions.case_desk import ActionLeaveMessage, ValidateLeaveMessageForm, parse_case_rating
from actions.rating import ActionRecordRating
from casework.cases import CaseDesk
from casework.models import Case
from knowledge.db import session_scope
from tests.actions.conftest import make_tracker, responses, run, slots_set


@pytest.fixture
def desk(stores) -> CaseDesk:
    return CaseDesk(stores.casework.factory)


def lookup(stores, dispatcher, domain, number, last4="1234", channel="webchat"):
    tracker = make_tracker(last4, slots={"application_no": number, "verify_last4": last4}, channel=channel)
    return run(ActionCheckStatus(stores), dispatcher, tracker, domain)


def rate(stores, dispatcher, domain, number, text, entity=None):
    entities = [{"entity": "rating", "value": entity}] if entity else []
    tracker = make_tracker(text, intent="rate", entities=entities,
                           slots={"rating_context": "case_reply", "case_rating_number": number})
    return run(ActionRecordRating(stores), dispatcher, tracker, domain)


def replied_case(desk: CaseDesk) -> Case:
    case = desk.open_case(description="小区路灯坏了一个月", location="天河区", kind="complaint", channel="webchat",
                          sender_hash="s", contact_phone="+8613900001234", reply_to="tester")
    desk.assign(case.number, "urban_construction", actor="disp")
    desk.reply(case.number, "路灯已于昨日修复，感谢您的反映。", actor="h1")
    return case


def test_lookup_before_a_reply_shows_department_and_status(stores, dispatcher, domain, desk):
    case = desk.open_case(description="噪音扰民", kind="complaint", channel="sms", contact_phone="+8613900001234")
    desk.assign(case.number, "environment", actor="disp")
    events = lookup(stores, dispatcher, domain, case.number)
    assert responses(dispatcher) == ["utter_case_status_desk", "utter_ask_rating"]
    msg = dispatcher.messages[0]
    assert msg["department"] == "环境保护" and msg["status_text"] == "已派单至承办部门" and msg["kind_text"] == "投诉"
    assert "环境保护" in msg["history"] and slots_set(events)["rating_context"] == "status"


def test_identity_check_still_guards_the_answer(stores, dispatcher, domain, desk):
    case = replied_case(desk)
    lookup(stores, dispatcher, domain, case.number, last4="9999")
    assert responses(dispatcher) == ["utter_verification_failed_final"]


def test_the_reply_is_shown_and_rated_dissatisfied_reopens_once(stores, dispatcher, domain, desk):
    case = replied_case(desk)
    events = lookup(stores, dispatcher, domain, case.number)
    assert responses(dispatcher) == ["utter_case_status_desk", "utter_case_reply", "utter_ask_case_rating"]
    assert dispatcher.messages[1]["reply"] == "路灯已于昨日修复，感谢您的反映。"
    assert dispatcher.messages[1]["department"] == "城乡建设"
    assert slots_set(events)["case_rating_number"] == case.number
    dispatcher.messages.clear()
    rate(stores, dispatcher, domain, case.number, "/rate", entity="dissatisfied")
    assert responses(dispatcher) == ["utter_case_reopened_by_rating"]
    assert desk.get(case.number).status == "reopened"
    desk.reply(case.number, "已再次派人核查并修复。", actor="h1")
    dispatcher.messages.clear()
    rate(stores, dispatcher, domain, case.number, "还是不满意")
    assert responses(dispatcher) == ["utter_case_rated"] and desk.get(case.number).status == "closed"
    dispatcher.messages.clear()
    rate(stores, dispatcher, domain, case.number, "满意")
    assert responses(dispatcher) == ["utter_case_rating_unavailable"]


def test_a_legacy_case_still_reads(stores, dispatcher, domain):
    with session_scope(stores.casework.factory) as s:
        s.add(Case(number="TS2601010002", description="旧投诉", location="", contact_phone="+8613900004321",
                   phone_last4="4321", channel="webchat", sender_hash="", status="done",
                   history=[{"at": "2026-01-01T01:00:00+00:00", "status": "received", "note": "已受理"}]))
    lookup(stores, dispatcher, domain, "TS2601010002", last4="4321")
    msg = dispatcher.messages[0]
    assert msg["status_text"] == "已办结" and "已受理" in msg["history"] and msg["department"] == "待分派"


@pytest.mark.parametrize(("entity", "text", "code"), [
    ("mostly", "/rate", "mostly"), (None, "基本满意吧", "mostly"), (None, "不满意，没解决", "dissatisfied"),
    (None, "满意", "satisfied"), ("5", "五星", "satisfied"), (None, "你好", None)])
def test_parse_case_rating(entity, text, code):
    assert parse_case_rating(entity, text) == code


def test_leaving_a_message_on_web_chat_asks_a_phone_and_opens_an_inquiry(stores, dispatcher, domain, desk):
    form = ValidateLeaveMessageForm(stores)
    slots = {"leave_message_text": "公园里的健身器材坏了找谁修"}
    tracker = make_tracker("13900001234", slots=slots, active_loop="leave_message_form")
    required = asyncio.run(form.required_slots(["message_contact"], dispatcher, tracker, domain))
    assert required == ["message_contact"]
    assert asyncio.run(form.validate_message_contact("不留", dispatcher, tracker, domain)) == {"message_contact": "none"}
    ok = asyncio.run(form.validate_message_contact("13900001234", dispatcher, tracker, domain))
    assert ok == {"message_contact": "+8613900001234"}
    events = run(ActionLeaveMessage(stores), dispatcher, make_tracker("", slots={**slots, **ok}), domain)
    assert responses(dispatcher) == ["utter_message_left"]
    case = desk.get(dispatcher.messages[0]["number"])
    assert case.kind == "inquiry" and case.phone_last4 == "1234" and case.channel == "webchat"
    assert desk.contact(case).address == "tester" and slots_set(events)["leave_message_text"] is None


def test_leaving_a_message_by_sms_uses_the_senders_number(stores, dispatcher, domain, desk):
    form = ValidateLeaveMessageForm(stores)
    slots = {"leave_message_text": "我想举报有人在河边偷倒建筑垃圾"}
    tracker = make_tracker("", slots=slots, channel="sms")
    assert asyncio.run(form.required_slots(["message_contact"], dispatcher, tracker, domain)) == []
    from rasa_sdk import Tracker

    parse = {"text": "", "intent": {"name": "leave_message"}, "entities": [], "metadata": {"phone": "+8613900007777"}}
    sms = Tracker(sender_id="sms-abc", slots=slots, latest_message=parse,
                  events=[{"event": "user", "text": "", "input_channel": "sms", "parse_data": parse}], paused=False,
                  followup_action=None, active_loop={}, latest_action_name="action_listen")
    run(ActionLeaveMessage(stores), dispatcher, sms, domain)
    case = desk.get(dispatcher.messages[0]["number"])
    assert case.kind == "report" and case.phone_last4 == "7777"
    assert desk.contact(case).address == "+8613900007777" and "7777" not in case.reply_to


def test_nothing_to_leave_is_explained(stores, dispatcher, domain):
    run(ActionLeaveMessage(stores), dispatcher, make_tracker("", slots={"leave_message_text": ""}), domain)
    assert responses(dispatcher) == ["utter_leave_message_nothing"]


def test_a_letter_keeps_the_address_the_mailbox_sealed_and_its_thread(stores, dispatcher, domain, desk):
    from rasa_sdk import Tracker

    sealed = desk.sealer.seal("writer@example.org")
    meta = {"reply_to_sealed": sealed, "thread": "<letter-1@example.org>"}
    parse = {"text": "公园里的健身器材坏了很久，请问归哪个部门管", "intent": {"name": "ask_service_guide"},
             "entities": [], "metadata": meta}
    mail = Tracker(sender_id="mail-abc", slots={}, latest_message=parse,
                   events=[{"event": "user", "text": parse["text"], "input_channel": "mail", "parse_data": parse}],
                   paused=False, followup_action=None, active_loop={}, latest_action_name="action_listen")
    from actions.faq import ActionAnswerFaq

    run(ActionAnswerFaq(stores), dispatcher, mail, domain)
    assert responses(dispatcher)[-1] == "utter_message_left"
    case = desk.get(dispatcher.messages[-1]["number"])
    contact = desk.contact(case)
    assert contact.address == "writer@example.org" and contact.thread == "<letter-1@example.org>"
    assert contact.channel == "mail"


def test_the_excerpt_keeps_the_citizens_typed_messages_masked():
    from actions.case_desk import conversation_excerpt

    tracker = make_tracker("我的电话是13900001234，路灯坏了")
    tracker.events.insert(0, {"event": "user", "text": "/leave_message"})
    tracker.events.insert(0, {"event": "user", "text": "你好"})
    excerpt = conversation_excerpt(tracker)
    assert excerpt.splitlines()[0] == "你好" and "/leave_message" not in excerpt
    assert "13900001234" not in excerpt and "路灯坏了" in excerpt
