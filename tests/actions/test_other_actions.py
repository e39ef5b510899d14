"""Status lookup with identity check, complaints, hand-off and ratings."""

from __future__ import annotations

import asyncio

import pytest

from actions.application_status import ActionCheckStatus, ValidateStatusForm
from actions.complaint import ActionCreateCase, ValidateComplaintForm
from actions.handoff import ActionHandoff
from actions.rating import ActionRecordRating, parse_rating
from tests.actions.conftest import make_tracker, responses, run, slots_set


def check(stores, dispatcher, domain, number, last4, sender="s1"):
    tracker = make_tracker(last4, slots={"application_no": number, "verify_last4": last4}, sender=sender)
    return run(ActionCheckStatus(stores), dispatcher, tracker, domain)


def verify(stores, dispatcher, domain, number, last4, sender="s1"):
    """Run the form's identity check as Rasa does: the number is already set, last4 just given."""
    tracker = make_tracker(last4, slots={"application_no": number}, sender=sender, active_loop="status_form")
    return asyncio.run(ValidateStatusForm(stores).validate_verify_last4(last4, dispatcher, tracker, domain))


def test_status_is_revealed_with_phone_or_id_last4(stores, dispatcher, domain):
    assert verify(stores, dispatcher, domain, "202611100012", "1234") == {"verify_last4": "1234"}
    events = check(stores, dispatcher, domain, "202611100012", "1234")
    assert responses(dispatcher) == ["utter_application_status", "utter_ask_rating"]
    msg = dispatcher.messages[0]
    assert msg["service_name"] == "普通护照申领" and msg["status_text"] == "已办好，可领取"
    assert "11月10日 10:05" in msg["history"]  # stored in UTC, shown in city time
    assert slots_set(events)["rating_context"] == "status"
    dispatcher.messages.clear()
    assert verify(stores, dispatcher, domain, "202611100012", "001x", sender="s2") == {"verify_last4": "001X"}
    check(stores, dispatcher, domain, "202611100012", "001X", sender="s2")
    assert responses(dispatcher)[0] == "utter_application_status"


FAILED = {"verify_last4": None, "application_no": None}  # both asked again, whatever was wrong


def test_wrong_last4_is_asked_again_and_five_failures_lock(stores, dispatcher, domain):
    assert verify(stores, dispatcher, domain, "202611100012", "9999") == FAILED
    assert responses(dispatcher) == ["utter_verification_failed"] and dispatcher.messages[0]["remaining"] == 4
    for _ in range(3):
        verify(stores, dispatcher, domain, "202611100012", "9999")
    dispatcher.messages.clear()
    # the fifth failure locks; so does the right answer after it
    assert verify(stores, dispatcher, domain, "202611100012", "9999") == {"verify_last4": None,
                                                                         "verification_locked": True}
    assert verify(stores, dispatcher, domain, "202611100012", "1234")["verification_locked"] is True
    tracker = make_tracker("x", slots={"verification_locked": True}, sender="s1")
    dispatcher.messages.clear()
    events = run(ActionCheckStatus(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_verification_locked"]
    assert slots_set(events)["verification_locked"] is None
    # a locked form ends at once
    form = ValidateStatusForm(stores)
    assert asyncio.run(form.required_slots(["application_no", "verify_last4"], dispatcher, tracker, domain)) == []
    # the number itself is locked, whoever asks next (rotating senders gets nowhere) ...
    assert verify(stores, dispatcher, domain, "202611100012", "1234", sender="other")["verification_locked"] is True
    # ... while that sender can still check another application
    assert verify(stores, dispatcher, domain, "202611180037", "5678", sender="other") == {"verify_last4": "5678"}


def test_an_unknown_number_gets_the_same_reply_as_wrong_digits_and_counts_as_a_failure(stores, dispatcher, domain):
    assert verify(stores, dispatcher, domain, "209901010000", "1234") == FAILED
    unknown = list(dispatcher.messages)
    dispatcher.messages.clear()
    assert verify(stores, dispatcher, domain, "202611100012", "9999", sender="s2") == FAILED
    assert unknown == dispatcher.messages  # same response, same remaining count: nothing to tell them apart
    from common.identity import hash_sender

    assert stores.checks.remaining(sender_hash=hash_sender("s1")) == 4


def test_failures_count_per_client_address_across_rotated_senders(stores, dispatcher, domain):
    limit = stores.checks.limits.max_failures_per_client
    meta = {"client_address": "198.51.100.23"}
    numbers = ["202611180037", "202611200101", "202611210008", "202611100012"]
    results = []
    for i in range(limit + 1):
        tracker = make_tracker("0000", slots={"application_no": numbers[i % 4]}, sender=f"rotated-{i}",
                               active_loop="status_form")
        tracker.latest_message["metadata"] = meta
        results.append(asyncio.run(ValidateStatusForm(stores).validate_verify_last4("0000", dispatcher, tracker,
                                                                                   domain)))
    assert all(r.get("verification_locked") is None for r in results[:limit - 1])
    assert results[limit - 1].get("verification_locked") is True and results[limit].get("verification_locked")


def test_the_action_never_reveals_an_unverified_status(stores, dispatcher, domain):
    check(stores, dispatcher, domain, "202611100012", "9999")
    assert responses(dispatcher) == ["utter_verification_failed_final"]


def test_status_form_parses_numbers_and_last4(stores, dispatcher, domain):
    form = ValidateStatusForm(stores)
    tracker = make_tracker("")
    assert asyncio.run(form.validate_application_no("编号 202611100012 ", dispatcher, tracker, domain)) == {
        "application_no": "202611100012"}
    assert asyncio.run(form.validate_application_no("ts2611250001", dispatcher, tracker, domain)) == {
        "application_no": "TS2611250001"}
    assert asyncio.run(form.validate_application_no("单号TS26120312345678", dispatcher, tracker, domain)) == {
        "application_no": "TS26120312345678"}  # the long case numbers issued now
    with_number = make_tracker("", slots={"application_no": "202611100012"}, active_loop="status_form")
    assert asyncio.run(form.validate_verify_last4("后四位系 001x", dispatcher, with_number, domain)) == {
        "verify_last4": "001X"}
    assert asyncio.run(form.validate_verify_last4("唔记得", dispatcher, tracker, domain)) == {"verify_last4": None}


def test_complaint_creates_a_case_with_masked_text_and_its_status_is_queryable(stores, dispatcher, domain):
    form = ValidateComplaintForm(stores)
    tracker = make_tracker("")
    assert asyncio.run(form.validate_complaint_text("我要投诉", dispatcher, tracker, domain)) == {"complaint_text": None}
    assert asyncio.run(form.validate_contact_phone("不留", dispatcher, tracker, domain)) == {"contact_phone": "none"}
    slots = {"complaint_text": "楼下工地每晚施工很吵，我电话13900001234", "complaint_location": "海珠区某路",
             "contact_phone": "+8613900005678"}
    dispatcher.messages.clear()
    events = run(ActionCreateCase(stores), dispatcher, make_tracker("", slots=slots), domain)
    number = dispatcher.messages[0]["number"]
    case = stores.casework.get_case(number)
    assert case.category == "噪音" and "13900001234" not in case.description and case.phone_last4 == "5678"
    assert slots_set(events)["rating_context"] == "complaint"
    dispatcher.messages.clear()
    check(stores, dispatcher, domain, number, "5678")
    assert responses(dispatcher)[0] == "utter_case_status_desk"


def test_handoff_is_recorded_and_ends_any_form(stores, dispatcher, domain):
    events = run(ActionHandoff(stores), dispatcher, make_tracker("转人工", "request_human", channel="voice",
                                                                  active_loop="booking_form"), domain)
    assert responses(dispatcher) == ["utter_handoff"]  # text channels: tests/actions/test_live_agent.py
    assert any(e["event"] == "active_loop" and e["name"] is None for e in events)
    assert stores.casework.handoffs()[0].channel == "voice"


def test_rating_is_stored_with_context_channel_and_service(stores, dispatcher, domain):
    tracker = make_tracker('/rate{"rating": "5"}', "rate", [{"entity": "rating", "value": "5"}],
                           slots={"rating_context": "booking", "service": "passport"}, channel="telegram")
    events = run(ActionRecordRating(stores), dispatcher, tracker, domain)
    rating = stores.casework.ratings()[0]
    assert (rating.score, rating.context, rating.service_id, rating.channel) == (5, "booking", "passport", "telegram")
    assert slots_set(events)["rating_context"] is None
    dispatcher.messages.clear()
    run(ActionRecordRating(stores), dispatcher, make_tracker("随便啦", "rate"), domain)
    assert responses(dispatcher) == ["utter_rating_not_understood"]


def test_parse_rating_words():
    assert [parse_rating(None, t) for t in ("非常满意", "满意", "一般", "唔满意", "差评", "给3分", "嗯")] == [
        5, 4, 3, 2, 1, 3, None]


LETTER = ("市长您好：\n我家楼下的工地每天晚上十一点以后还在施工，噪音很大，已经持续两周。\n"
          "地址：海珠区江南大道中某小区北门\n联系电话：139 0000 4321\n请尽快处理，谢谢！")


def test_a_complaint_letter_is_taken_in_one_turn_with_its_place_and_phone(stores, dispatcher, domain):
    form = ValidateComplaintForm(stores)
    tracker = make_tracker(LETTER, "complain", channel="mail")
    result = asyncio.run(form.validate_complaint_text(LETTER, dispatcher, tracker, domain))
    assert result["complaint_location"] == "海珠区江南大道中某小区北门"
    assert result["contact_phone"] == "+8613900004321"
    assert result["complaint_text"].startswith("市长您好")


def test_a_letter_without_place_or_phone_still_opens_a_case_at_once(stores, dispatcher, domain):
    letter = "反映一下，小区门口的路灯坏了一个多月，晚上很黑，老人出入很不安全。"
    tracker = make_tracker(letter, "complain", channel="mail")
    result = asyncio.run(ValidateComplaintForm(stores).validate_complaint_text(letter, dispatcher, tracker, domain))
    assert result["complaint_location"] == "见来信正文" and result["contact_phone"] == "none"


def test_a_chat_complaint_still_asks_where_and_for_a_phone(stores, dispatcher, domain):
    tracker = make_tracker(LETTER, "complain", channel="webchat")
    result = asyncio.run(ValidateComplaintForm(stores).validate_complaint_text(LETTER, dispatcher, tracker, domain))
    assert set(result) == {"complaint_text"}


@pytest.mark.parametrize(("text", "place"), [
    ("天河区体育西路103号附近垃圾没人清", "天河区体育西路103号"),
    ("事发地点：越秀区北京路步行街入口。", "越秀区北京路步行街入口"),
    ("到处都是垃圾", None),
])
def test_places_are_found_in_letters(text, place):
    from actions.services.letters import find_location

    assert find_location(text) == place


@pytest.mark.parametrize("reply", ["5", "5分", "五星", "非常满意", "５"])
def test_every_way_of_giving_five_after_the_rating_question_records_very_satisfied(stores, dispatcher, domain,
                                                                                  reply):
    from actions.closed_question import ActionResolveReply
    from actions.rating import ActionRecordRating, ask_rating

    asked = ask_rating(dispatcher, make_tracker("查进度", "check_application_status"), domain, "status")
    question = slots_set(asked)["closed_question"]
    assert [(o["title"], o["key"]) for o in question["options"]][:5] == [
        ("非常满意", "5"), ("满意", "4"), ("一般", "3"), ("不满意", "2"), ("非常不满意", "1")]
    assert question["options"][-1]["key"] == ""  # "跳过" is offered, not numbered
    events = run(ActionResolveReply(stores), dispatcher, make_tracker(reply, "inform", slots={
        "closed_question": question, "rating_context": "status", "service": "passport"}), domain)
    kinds = [e["event"] for e in events]
    assert kinds == ["rewind", "slot", "action", "user"] and events[2]["name"] == "action_listen"
    injected = events[-1]
    assert injected["text"] == '/rate{"rating": "5"}' and injected["parse_data"]["intent"]["name"] == "rate"
    assert injected["input_channel"] == "webchat"
    chosen = make_tracker(injected["text"], "rate", injected["parse_data"]["entities"],
                          slots={"rating_context": "status", "service": "passport"})
    run(ActionRecordRating(stores), dispatcher, chosen, domain)
    assert [r.score for r in stores.casework.ratings()] == [5]


@pytest.mark.parametrize(("said", "score"), [
    ("5", 5), ("5分", 5), ("五星", 5), ("5星", 5), ("给五颗星", 5), ("５", 5), ("打5分", 5), ("非常满意", 5),
    ("十分满意", 5), ("满意", 4), ("三分吧", 3), ("一般", 3), ("不满意", 2), ("非常不满意", 1), ("1", 1),
    ("10分", None), ("3分或4分", None), ("嗯", None)])
def test_ratings_are_read_on_one_scale_5_best(said, score):
    assert parse_rating(None, said) == score
