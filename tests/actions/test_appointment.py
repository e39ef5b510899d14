"""Booking form validation and the booking, cancel and look-up actions."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from actions.appointment import (
    ActionBookAppointment,
    ActionCancelAppointment,
    ActionQueryAppointment,
    ValidateBookingForm,
    ranges_for,
)
from casework.repository import BookingRequest
from tests.actions.conftest import make_tracker, prove_phone, responses, run, slots_set

PHONE = "+8613900001234"


def validate(action, slot, value, dispatcher, tracker, domain):
    return asyncio.run(getattr(action, f"validate_{slot}")(value, dispatcher, tracker, domain))


@pytest.fixture
def open_day(stores, pinned_now):
    """The first day from tomorrow on when the Tianhe centre is open both morning and afternoon.

    (Some centres open on Saturday mornings only: a test run on a Friday must not pick that day.)
    """
    center = stores.knowledge.get_center("tianhe_center")
    day = pinned_now.date() + dt.timedelta(days=1)
    while not any(end > dt.time(16, 0) for _, end in ranges_for(center, day)):
        day += dt.timedelta(days=1)
    return day


@pytest.fixture
def base_slots(open_day):
    return {"service": "passport", "center": "tianhe_center", "booking_date": open_day.isoformat(),
            "booking_time": "10:00", "person_name": "陈示例", "phone": PHONE}


def test_center_by_district_name(stores, dispatcher, domain):
    tracker = make_tracker("海珠", slots={"service": "passport"})
    assert validate(ValidateBookingForm(stores), "center", "海珠", dispatcher, tracker, domain) == {"center": "haizhu_center"}


def test_unknown_center_offers_buttons(stores, dispatcher, domain):
    tracker = make_tracker("月球", slots={"service": "passport"})
    assert validate(ValidateBookingForm(stores), "center", "月球", dispatcher, tracker, domain) == {"center": None}
    assert responses(dispatcher) == ["utter_invalid_center", "utter_choose_center"]
    assert dispatcher.messages[1]["buttons"][0]["payload"].startswith('/inform{"center": ')


def test_service_from_free_text(stores, dispatcher, domain):
    tracker = make_tracker("办护照")
    assert validate(ValidateBookingForm(stores), "service", "办护照", dispatcher, tracker, domain) == {"service": "passport"}


def test_past_and_far_dates_are_refused(stores, dispatcher, domain, pinned_now):
    tracker = make_tracker("", slots={"service": "passport", "center": "tianhe_center"})
    form = ValidateBookingForm(stores)
    yesterday = (pinned_now.date() - dt.timedelta(days=1)).isoformat()
    assert validate(form, "booking_date", yesterday, dispatcher, tracker, domain) == {"booking_date": None}
    far = (pinned_now.date() + dt.timedelta(days=45)).isoformat()
    assert validate(form, "booking_date", far, dispatcher, tracker, domain) == {"booking_date": None}
    assert validate(form, "booking_date", "农历初三", dispatcher, tracker, domain) == {"booking_date": None}
    assert responses(dispatcher) == ["utter_date_in_past", "utter_date_too_far", "utter_date_not_understood"]


def test_closed_day_offers_the_next_bookable_days(stores, dispatcher, domain, pinned_now):
    tracker = make_tracker("", slots={"service": "passport", "center": "tianhe_center"})
    center = stores.knowledge.get_center("tianhe_center")
    closed = next(pinned_now.date() + dt.timedelta(days=i) for i in range(1, 15)
                  if not ranges_for(center, pinned_now.date() + dt.timedelta(days=i)))
    assert validate(ValidateBookingForm(stores), "booking_date", closed.isoformat(), dispatcher, tracker,
                    domain) == {"booking_date": None}
    assert responses(dispatcher) == ["utter_date_closed", "utter_choose_date"]
    offered = [dt.date.fromisoformat(b["payload"].split('"')[3]) for b in dispatcher.messages[1]["buttons"]]
    assert offered and all(ranges_for(center, d) and d >= pinned_now.date() for d in offered)


def test_date_with_part_of_day_offers_slots_in_that_part(stores, dispatcher, domain, open_day):
    tracker = make_tracker("", slots={"service": "passport", "center": "tianhe_center"})
    text = f"{open_day.month}月{open_day.day}日下午"
    result = validate(ValidateBookingForm(stores), "booking_date", text, dispatcher, tracker, domain)
    assert result == {"booking_date": open_day.isoformat(), "booking_time": None}
    assert responses(dispatcher) == ["utter_choose_time"]
    times = [b["payload"].split('"')[3] for b in dispatcher.messages[0]["buttons"]]
    assert times and all(t >= "12:00" for t in times)


def test_exact_free_time_is_accepted_and_a_full_one_offers_the_nearest(stores, dispatcher, domain, open_day):
    tracker = make_tracker("", slots={"service": "passport", "center": "tianhe_center",
                                      "booking_date": open_day.isoformat()})
    form = ValidateBookingForm(stores)
    assert validate(form, "booking_time", "上午十点", dispatcher, tracker, domain) == {"booking_time": "10:00"}
    prove_phone(stores, PHONE)
    capacity = stores.knowledge.get_center("tianhe_center").slot_capacity
    for i in range(capacity):
        stores.casework.book(BookingRequest("passport", "tianhe_center", open_day, "10:00", "x", f"+86139000{i:05d}"),
                             capacity)
    assert validate(form, "booking_time", "10:00", dispatcher, tracker, domain) == {"booking_time": None}
    assert responses(dispatcher) == ["utter_slot_full", "utter_choose_time"]
    offered = [b["payload"].split('"')[3] for b in dispatcher.messages[1]["buttons"]]
    assert "10:00" not in offered and ("09:30" in offered or "10:30" in offered)


def test_time_outside_opening_hours(stores, dispatcher, domain, open_day):
    tracker = make_tracker("", slots={"service": "passport", "center": "tianhe_center",
                                      "booking_date": open_day.isoformat()})
    assert validate(ValidateBookingForm(stores), "booking_time", "晚上8点", dispatcher, tracker,
                    domain) == {"booking_time": None}
    assert responses(dispatcher)[0] == "utter_time_closed"


@pytest.mark.parametrize(("value", "expected"), [("我叫陈小红", "陈小红"), ("12345", None), ("x", None)])
def test_person_name(stores, dispatcher, domain, value, expected):
    tracker = make_tracker(value)
    assert validate(ValidateBookingForm(stores), "person_name", value, dispatcher, tracker, domain) == {
        "person_name": expected}


def test_a_correction_while_the_name_is_asked_is_not_taken_as_the_name(stores, dispatcher, domain):
    tracker = make_tracker("改成后天", entities=[{"entity": "date", "value": "后天", "start": 2, "end": 4}])
    assert validate(ValidateBookingForm(stores), "person_name", "改成后天", dispatcher, tracker, domain) == {
        "person_name": None}
    assert dispatcher.messages == []  # no "invalid name" scolding: the form simply asks again


def test_name_and_phone_in_one_message_keep_the_name(stores, dispatcher, domain):
    text = "陈小红 13900001234"
    tracker = make_tracker(text, entities=[{"entity": "phone", "value": "13900001234", "start": 4, "end": 15}])
    assert validate(ValidateBookingForm(stores), "person_name", text, dispatcher, tracker, domain) == {
        "person_name": "陈小红"}


@pytest.mark.parametrize(("value", "expected"), [("139 0000 1234", PHONE), ("１３９００００１２３４", PHONE),
                                                  ("12345", None), ("02012345678", None)])
def test_phone(stores, dispatcher, domain, value, expected):
    tracker = make_tracker(value)
    assert validate(ValidateBookingForm(stores), "phone", value, dispatcher, tracker, domain) == {"phone": expected}


def test_date_and_time_in_the_activating_message_are_used(stores, dispatcher, domain, open_day):
    text = f"我想预约{open_day.month}月{open_day.day}号上午十点去天河办护照"
    tracker = make_tracker(text, "book_appointment", active_loop="booking_form",
                           set_now={"service": "passport", "center": "tianhe_center"})
    events = run(ValidateBookingForm(stores), dispatcher, tracker, domain)
    assert slots_set(events)["booking_date"] == open_day.isoformat()
    assert slots_set(events)["booking_time"] == "10:00"


def test_a_badly_cut_date_entity_falls_back_to_the_whole_message(stores, dispatcher, domain, pinned_now):
    # The CRF once tagged "下昼去" as the date in "我想约听日下昼去越秀办".
    text = "我想约听日下昼去越秀办"
    tracker = make_tracker(text, "book_appointment", active_loop="booking_form",
                           slots={"service": "passport", "center": "yuexiu_center"})
    result = validate(ValidateBookingForm(stores), "booking_date", "下昼去", dispatcher, tracker, domain)
    tomorrow = pinned_now.date() + dt.timedelta(days=1)
    if result.get("booking_date") is None:  # tomorrow may be a closed day: then other days are offered
        assert responses(dispatcher)[0] in {"utter_date_closed", "utter_no_free_slots"}
    else:
        assert result["booking_date"] == tomorrow.isoformat()
        assert "utter_date_not_understood" not in responses(dispatcher)


def test_confirmed_booking_is_stored_with_a_reference_and_offers_a_rating(stores, dispatcher, domain, base_slots):
    prove_phone(stores, PHONE)
    tracker = make_tracker("确认", "affirm", slots={**base_slots, "booking_confirmed": True})
    events = run(ActionBookAppointment(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_booking_done", "utter_ask_rating"]
    ref = dispatcher.messages[0]["booking_ref"]
    booking = stores.casework.find_booking(ref, PHONE)
    assert (booking.center_id, booking.slot_start, booking.channel) == ("tianhe_center", "10:00", "webchat")
    assert slots_set(events)["rating_context"] == "booking" and slots_set(events)["booking_date"] is None


def test_second_booking_for_the_same_service_and_phone_is_refused(stores, dispatcher, domain, base_slots):
    prove_phone(stores, PHONE)
    tracker = make_tracker("确认", "affirm", slots={**base_slots, "booking_confirmed": True})
    run(ActionBookAppointment(stores), dispatcher, tracker, domain)
    dispatcher.messages.clear()
    run(ActionBookAppointment(stores), dispatcher, make_tracker("确认", "affirm", slots={
        **base_slots, "booking_time": "11:00", "booking_confirmed": True}), domain)
    assert responses(dispatcher) == ["utter_booking_already"]


def test_slot_taken_meanwhile_offers_other_slots(stores, dispatcher, domain, base_slots, open_day):
    prove_phone(stores, PHONE)
    capacity = stores.knowledge.get_center("tianhe_center").slot_capacity
    for i in range(capacity):
        stores.casework.book(BookingRequest("passport", "tianhe_center", open_day, "10:00", "x", f"+86139000{i:05d}"),
                             capacity)
    events = run(ActionBookAppointment(stores), dispatcher,
                 make_tracker("确认", "affirm", slots={**base_slots, "booking_confirmed": True}), domain)
    assert responses(dispatcher) == ["utter_booking_slot_taken"]
    assert dispatcher.messages[0]["buttons"] and slots_set(events)["booking_time"] is None
    assert "booking_date" not in slots_set(events)  # the day is kept for the retry


def test_unconfirmed_booking_saves_nothing(stores, dispatcher, domain, base_slots):
    run(ActionBookAppointment(stores), dispatcher, make_tracker("不", "deny", slots=base_slots), domain)
    assert responses(dispatcher) == ["utter_stopped"]
    assert stores.casework.slot_usage("tianhe_center", "passport", dt.date.fromisoformat(base_slots["booking_date"])) == {}


def test_cancel_and_look_up_need_the_right_phone(stores, dispatcher, domain, open_day):
    booking = stores.casework.book(BookingRequest("passport", "tianhe_center", open_day, "10:00", "x", PHONE), 4)
    prove_phone(stores, PHONE)
    prove_phone(stores, "+8613900009999")
    wrong = make_tracker("", slots={"booking_ref": booking.ref, "phone": "+8613900009999"})
    run(ActionQueryAppointment(stores), dispatcher, wrong, domain)
    run(ActionCancelAppointment(stores), dispatcher, wrong, domain)
    assert responses(dispatcher) == ["utter_booking_not_found", "utter_booking_not_found"]
    dispatcher.messages.clear()
    right = make_tracker("", slots={"booking_ref": booking.ref, "phone": PHONE})
    run(ActionQueryAppointment(stores), dispatcher, right, domain)
    assert dispatcher.messages[0]["status_text"] == "有效"
    run(ActionCancelAppointment(stores), dispatcher, right, domain)
    assert responses(dispatcher) == ["utter_booking_details", "utter_booking_cancelled", "utter_ask_rating"]
    assert stores.casework.find_booking(booking.ref, PHONE).status.value == "cancelled"


def test_the_time_question_shows_the_free_slots_first_and_asks_after_them(stores, dispatcher, domain, base_slots):
    from actions.appointment import ActionAskBookingTime

    slots = {k: v for k, v in base_slots.items() if k not in ("booking_time", "person_name", "phone")}
    run(ActionAskBookingTime(stores), dispatcher, make_tracker("下周三", slots=slots), domain)
    assert responses(dispatcher) == ["utter_choose_time", "utter_ask_time_after_slots"]
    buttons = dispatcher.messages[0]["buttons"]
    assert 1 < len(buttons) <= stores.settings.max_offered_slots
    times = [b["payload"].split('"time": "')[1][:5] for b in buttons]
    from actions.appointment import now, slot_search

    center = stores.knowledge.get_center("tianhe_center")
    free = slot_search(stores).day_slots(center, "passport", dt.date.fromisoformat(slots["booking_date"]), now())[1]
    assert times == sorted(times) and (times[0], times[-1]) == (free[0], free[-1])  # spread over the day


def test_without_a_day_the_time_question_is_plain(stores, dispatcher, domain):
    from actions.appointment import ActionAskBookingTime

    run(ActionAskBookingTime(stores), dispatcher, make_tracker("十点", slots={"service": "passport"}), domain)
    assert responses(dispatcher) == ["utter_ask_booking_form_booking_time"]
