"""转人工 actions: the offer per channel and hours, queueing with a pause, a message left as a case."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from actions.case_desk import ActionLeaveMessage, ValidateLeaveMessageForm
from actions.handoff import ActionHandoff
from actions.live_agent import ActionEnqueueLiveAgent, ActionLiveAgentEnded, handoff_summary
from actions.live_offer import previous_bot_response
from actions.rating import ActionRecordRating
from casework.handoff import HandoffRepository
from common.clock import CITY_TZ
from tests.actions.conftest import make_tracker, responses, run, slots_set

THURSDAY_10 = dt.datetime(2026, 12, 3, 10, 0, tzinfo=CITY_TZ)
SUNDAY_10 = dt.datetime(2026, 12, 6, 10, 0, tzinfo=CITY_TZ)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):
    """Pin the desk's clock; returns a setter."""
    def pin(moment: dt.datetime) -> None:
        monkeypatch.setattr("actions.live_offer.city_now", lambda: moment)
        monkeypatch.setattr("actions.live_agent.city_now", lambda: moment)

    pin(THURSDAY_10)
    return pin


@pytest.mark.parametrize("channel", ["webchat", "sms", "telegram"])
def test_text_channels_are_offered_a_live_agent_during_desk_hours(stores, dispatcher, domain, clock, channel):
    events = run(ActionHandoff(stores), dispatcher, make_tracker("转人工", "request_human", channel=channel), domain)
    assert responses(dispatcher) == ["utter_offer_live_agent"]
    assert slots_set(events)["live_agent_reason"] == "requested"


def test_outside_desk_hours_the_citizen_is_offered_to_leave_a_message(stores, dispatcher, domain, clock):
    clock(SUNDAY_10)
    run(ActionHandoff(stores), dispatcher, make_tracker("转人工", "request_human", channel="sms"), domain)
    assert responses(dispatcher) == ["utter_live_agent_closed"]


def test_a_letter_asking_for_a_person_becomes_an_inquiry_case(stores, dispatcher, domain, clock):
    run(ActionHandoff(stores), dispatcher, make_tracker("请转人工处理我的公积金问题", "request_human", channel="mail"), domain)
    assert responses(dispatcher) == ["utter_handoff_case"]
    case = stores.casework.get_case(dispatcher.messages[0]["number"])
    assert case.kind == "inquiry" and "公积金" in case.description


def test_the_voice_channel_keeps_its_transfer(stores, dispatcher, domain, clock):
    run(ActionHandoff(stores), dispatcher, make_tracker("转人工", "request_human", channel="voice"), domain)
    assert responses(dispatcher) == ["utter_handoff"]


def test_accepting_queues_the_conversation_and_pauses_the_bot(stores, dispatcher, domain, clock):
    tracker = make_tracker("/accept_live_agent", "accept_live_agent", slots={"service": "passport",
                           "live_agent_reason": "not_understood"}, sender="webchat-q1")
    events = run(ActionEnqueueLiveAgent(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_live_agent_queued"]
    assert dispatcher.messages[0]["position"] == 1 and dispatcher.messages[0]["minutes"] >= 1
    assert events[-1]["event"] == "pause"
    session = HandoffRepository(stores.casework.factory).open_session("webchat-q1")
    assert session is not None and session.reason == "not_understood" and session.summary["service"] == "passport"


def test_accepting_after_closing_time_does_not_queue(stores, dispatcher, domain, clock):
    clock(SUNDAY_10)
    events = run(ActionEnqueueLiveAgent(stores), dispatcher, make_tracker("/accept_live_agent", sender="webchat-q2"),
                 domain)
    assert responses(dispatcher) == ["utter_live_agent_closed"] and events == []
    assert HandoffRepository(stores.casework.factory).open_session("webchat-q2") is None


def test_after_the_agent_the_citizen_rates_the_human_service(stores, dispatcher, domain):
    events = run(ActionLiveAgentEnded(stores), dispatcher, make_tracker("/live_agent_ended"), domain)
    assert responses(dispatcher) == ["utter_live_agent_ended", "utter_ask_rating"]
    assert slots_set(events)["rating_context"] == "live_agent"


@pytest.mark.parametrize(("score", "offered"), [("1", True), ("5", False)])
def test_a_very_poor_rating_offers_a_person(stores, dispatcher, domain, clock, score, offered):
    tracker = make_tracker(score, "rate", entities=[{"entity": "rating", "value": score}])
    run(ActionRecordRating(stores), dispatcher, tracker, domain)
    assert ("utter_offer_live_agent" in responses(dispatcher)) is offered


def test_a_left_message_becomes_an_inquiry_case(stores, dispatcher, domain):
    form = ValidateLeaveMessageForm(stores)
    asked = make_tracker("/leave_message", active_loop="leave_message_form", channel="sms")
    assert asyncio.run(form.required_slots(["leave_message_text", "message_contact"], dispatcher, asked,
                                           domain)) == ["leave_message_text"]  # SMS: the sender's number
    assert asyncio.run(form.validate_leave_message_text("/leave_message", dispatcher, asked, domain)) == {
        "leave_message_text": None}  # the button that opened the form is not the message
    text = "公租房怎么申请，电话13900001234"
    slots = asyncio.run(form.validate_leave_message_text(text, dispatcher, asked, domain))
    tracker = make_tracker(text, slots=slots, channel="sms")
    run(ActionLeaveMessage(stores), dispatcher, tracker, domain)
    case = stores.casework.get_case(dispatcher.messages[0]["number"])
    assert case.kind == "inquiry" and "公租房" in case.description and "13900001234" not in case.description


def test_the_summary_and_the_previous_bot_response():
    tracker = make_tracker("转人工", "request_human", slots={"service": "passport", "requested_slot": None})
    tracker.events[:0] = [
        {"event": "user", "text": "护照", "parse_data": {"intent": {"name": "ask_service_guide"}}},
        {"event": "bot", "text": "没听懂", "metadata": {"utter_action": "utter_default"}},
    ]
    summary = handoff_summary(tracker)
    assert summary["intent"] == "ask_service_guide" and summary["slots"] == {"service": "passport"}
    assert [m["who"] for m in summary["last_messages"]] == ["citizen", "bot", "citizen"]
    assert previous_bot_response(tracker) == "utter_default"
