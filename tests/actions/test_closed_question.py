"""The bot's closed questions: the next reply is read against the pending question first."""

from __future__ import annotations

import json

import pytest

from actions.closed_question import ActionResolveReply
from actions.services.closed_question import (
    Cues,
    Reply,
    bare_number,
    make_question,
    parse_payload,
    resolve,
)
from tests.actions.conftest import make_tracker, responses, run, slots_set

DRIVING = '/ask_service_guide{"service": "driving_license_renewal"}'
PASSPORT = '/ask_service_guide{"service": "passport"}'
HK = '/ask_service_guide{"service": "hk_macau_permit"}'
DID_YOU_MEAN = make_question("yes_no", [{"title": "机动车驾驶证期满换证", "payload": DRIVING}])
WHICH = make_question("choice", [{"title": "普通护照申领", "payload": PASSPORT},
                                 {"title": "往来港澳通行证及签注", "payload": HK}])
CONFIRM = make_question("yes_no", [{"title": "确认预约", "payload": "/affirm"}, {"title": "取消", "payload": "/deny"}],
                        yes="/affirm", no="/deny")


def reply(text: str, intent: str = "", confidence: float = 0.0, entities: tuple = ()) -> Reply:
    return Reply(text=text, intent=intent, confidence=confidence, entities=entities)


@pytest.mark.parametrize("text", ["是", "对", "好的", "嗯", "系", "yes", "可以", "对，就是这个", "啱", "系呀，唔该", "OK"])
def test_a_yes_to_a_proposal_is_that_proposal(text):
    assert resolve(DID_YOU_MEAN, reply(text)).payload == DRIVING


@pytest.mark.parametrize("text", ["不是", "唔系", "no", "不对", "不是啦，谢谢"])
def test_a_no_to_a_proposal_asks_to_rephrase(text):
    assert resolve(DID_YOU_MEAN, reply(text)).kind == "rephrase"


@pytest.mark.parametrize(("text", "payload"), [
    ("1", PASSPORT), ("2", HK), ("第二个", HK), ("２", HK), ("普通护照申领", PASSPORT),
    ("我要往来港澳通行证及签注那个", HK), ("选1", PASSPORT),
])
def test_a_number_or_a_name_picks_an_option(text, payload):
    assert resolve(WHICH, reply(text)).payload == payload


def test_a_service_the_nlu_recognised_picks_the_option_that_carries_it():
    said = reply("港澳通行证", "ask_service_guide", 0.9, (("service", "hk_macau_permit"),))
    assert resolve(WHICH, said).payload == HK


def test_a_yes_to_a_choice_does_not_say_which_and_a_correction_is_not_a_choice():
    assert resolve(WHICH, reply("好的")).kind == "unclear"
    assert resolve(WHICH, reply("不是普通护照申领")).kind == "other"
    assert resolve(WHICH, reply("3")).kind == "other"


@pytest.mark.parametrize(("text", "intent", "payload"), [
    ("确认", "", "/affirm"), ("1", "", "/affirm"), ("确认预约", "", "/affirm"), ("冇问题", "", "/affirm"),
    ("2", "", "/deny"), ("唔要", "", "/deny"), ("好呀好呀", "affirm", "/affirm"),
])
def test_the_booking_confirmation_reads_yes_no_numbers_and_titles(text, intent, payload):
    assert resolve(CONFIRM, reply(text, intent, 0.9 if intent else 0.0)).payload == payload


def test_a_longer_new_message_is_not_an_answer():
    assert resolve(DID_YOU_MEAN, reply("我要投诉楼下工地噪音", "complain", 0.95)).kind == "other"
    assert resolve(DID_YOU_MEAN, reply("好的我想问一下护照在哪里办要多久", "affirm", 0.7)).kind == "other"


def test_cue_words_come_from_the_config_file(tmp_path):
    path = tmp_path / "cues.yml"
    path.write_text("affirm: [得]\ndeny: [唔得]\nparticles: 啦\n", encoding="utf-8")
    cues = Cues.load(path)
    assert resolve(DID_YOU_MEAN, reply("得啦"), cues).payload == DRIVING
    assert resolve(DID_YOU_MEAN, reply("唔得"), cues).kind == "rephrase"


def test_numbers_and_payloads_parse():
    assert [bare_number(t) for t in ("5分", "五星", "第3个", "12", "三", "5分钟后", "")] == [5, 5, 3, 12, 3, None, None]
    assert parse_payload('/rate{"rating": "5"}') == ("rate", {"rating": "5"})
    assert parse_payload("/affirm") == ("affirm", {})
    assert parse_payload("hello") is None and parse_payload("/x{bad") is None


# -- the action ------------------------------------------------------------------------------
def test_a_yes_replaces_the_reply_with_the_option_as_if_its_button_was_pressed(stores, dispatcher, domain):
    tracker = make_tracker("对，就是这个", "affirm", slots={"closed_question": DID_YOU_MEAN.to_slot()}, channel="sms")
    events = run(ActionResolveReply(stores), dispatcher, tracker, domain)
    assert dispatcher.messages == []
    assert [e["event"] for e in events] == ["rewind", "slot", "action", "user"]
    assert slots_set(events) == {"closed_question": None}
    user = events[-1]
    assert user["text"] == DRIVING and user["input_channel"] == "sms"
    assert user["parse_data"]["intent"] == {"name": "ask_service_guide", "confidence": 1.0}
    assert [(e["entity"], e["value"]) for e in user["parse_data"]["entities"]] == [
        ("service", "driving_license_renewal")]


def test_a_no_to_a_proposal_offers_a_person_or_a_message_as_a_new_closed_question(stores, dispatcher, domain):
    tracker = make_tracker("唔系", "deny", slots={"closed_question": DID_YOU_MEAN.to_slot()})
    events = run(ActionResolveReply(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_rephrase_offer"]
    offer = slots_set(events)["closed_question"]
    assert [o["payload"] for o in offer["options"]] == ["/request_human", "/complain"]
    assert offer["no"] == "/deny" and dispatcher.messages[0]["custom"]["expect"] == "choice"


def test_an_unclear_yes_to_a_choice_asks_to_pick_one_and_keeps_the_question(stores, dispatcher, domain):
    tracker = make_tracker("好的", "affirm", slots={"closed_question": WHICH.to_slot()})
    events = run(ActionResolveReply(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_choose_one"]
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [PASSPORT, HK]
    assert slots_set(events)["closed_question"] == WHICH.to_slot()


def test_anything_else_is_handed_on_unchanged_and_the_question_expires(stores, dispatcher, domain):
    tracker = make_tracker("我要投诉", "complain", slots={"closed_question": WHICH.to_slot()})
    events = run(ActionResolveReply(stores), dispatcher, tracker, domain)
    assert dispatcher.messages == [] and slots_set(events) == {"closed_question": None}
    assert events[-1]["text"] == "我要投诉" and events[-1]["parse_data"]["intent"]["name"] == "complain"


def test_the_question_survives_the_slot_round_trip_as_json():
    assert json.loads(json.dumps(CONFIRM.to_slot())) == CONFIRM.to_slot()
