"""Proof of phone ownership in the booking, cancel and look-up forms (actions/phone_proof.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import pytest

from actions.appointment import ActionBookAppointment, ActionQueryAppointment, ValidateBookingForm
from actions.phone_proof import PROVED, ActionAskPhoneCode
from casework.repository import BookingRequest
from casework.slots import ranges_for
from tests.actions.conftest import make_tracker, prove_phone, responses, run, slots_set

PHONE = "+8613900005678"
FORM = ["service", "center", "booking_date", "booking_time", "person_name", "phone", "phone_code",
        "booking_confirmed"]


@pytest.fixture
def open_day(stores, pinned_now):
    """The first day from tomorrow on when the Tianhe centre is open."""
    center = stores.knowledge.get_center("tianhe_center")
    day = pinned_now.date() + dt.timedelta(days=1)
    while not ranges_for(center, day):
        day += dt.timedelta(days=1)
    return day


def sent_code(stores) -> str:
    return re.search(r"\d{6}", stores.code_sender.sent[-1][1]).group(0)


def validate_code(stores, dispatcher, domain, code: str, sender: str = "tester") -> dict:
    tracker = make_tracker(code, slots={"phone": PHONE}, sender=sender, active_loop="booking_form")
    return asyncio.run(ValidateBookingForm(stores).validate_phone_code(code, dispatcher, tracker, domain))


def test_asking_for_the_code_sends_it_by_sms_once_and_never_shows_it(stores, dispatcher, domain):
    tracker = make_tracker("", slots={"phone": PHONE}, active_loop="booking_form")
    assert run(ActionAskPhoneCode(stores), dispatcher, tracker, domain) == []
    run(ActionAskPhoneCode(stores), dispatcher, tracker, domain)  # asked again: the live code is not resent
    assert [to for to, _ in stores.code_sender.sent] == [PHONE]
    assert responses(dispatcher) == ["utter_ask_phone_code", "utter_ask_phone_code"]
    assert sent_code(stores) not in json.dumps(dispatcher.messages)
    assert dispatcher.messages[0]["phone_masked"] != PHONE and "5678" in dispatcher.messages[0]["phone_masked"]


def test_the_right_code_proves_the_phone_and_the_form_skips_the_question(stores, dispatcher, domain):
    run(ActionAskPhoneCode(stores), dispatcher, make_tracker("", slots={"phone": PHONE}), domain)
    assert validate_code(stores, dispatcher, domain, f"验证码 {sent_code(stores)}") == {"phone_code": PROVED}
    tracker = make_tracker("", slots={"phone": PHONE})
    slots = asyncio.run(ValidateBookingForm(stores).required_slots(FORM, dispatcher, tracker, domain))
    assert "phone_code" not in slots
    other = make_tracker("", slots={"phone": PHONE}, sender="someone-else")  # proof belongs to one conversation
    assert "phone_code" in asyncio.run(ValidateBookingForm(stores).required_slots(FORM, dispatcher, other, domain))


def test_wrong_codes_count_down_then_the_code_dies_and_a_new_one_is_sent(stores, dispatcher, domain):
    run(ActionAskPhoneCode(stores), dispatcher, make_tracker("", slots={"phone": PHONE}), domain)
    right = sent_code(stores)
    wrong = "000000" if right != "000000" else "111111"
    dispatcher.messages.clear()
    for _ in range(stores.phone_proofs.limits.code_max_attempts):
        assert validate_code(stores, dispatcher, domain, wrong) == {"phone_code": None}
    assert responses(dispatcher) == ["utter_phone_code_wrong", "utter_phone_code_wrong", "utter_phone_code_expired"]
    assert validate_code(stores, dispatcher, domain, right) == {"phone_code": None}  # dead, even when right
    run(ActionAskPhoneCode(stores), dispatcher, make_tracker("", slots={"phone": PHONE}), domain)
    assert len(stores.code_sender.sent) == 2


def test_at_the_cap_the_form_ends_politely_without_sending(stores, dispatcher, domain):
    limits = stores.phone_proofs.limits
    for i in range(limits.max_codes_per_phone):  # other conversations already had codes sent to this phone
        stores.phone_proofs.issue(PHONE, f"session{i}", "", stores.code_sender)
    sent = len(stores.code_sender.sent)
    events = run(ActionAskPhoneCode(stores), dispatcher, make_tracker("", slots={"phone": PHONE}), domain)
    assert responses(dispatcher) == ["utter_phone_code_refused"] and len(stores.code_sender.sent) == sent
    assert slots_set(events) == {"phone": None, "phone_code": None, "requested_slot": None}


def test_sms_and_voice_prove_the_callers_own_number_without_a_code(stores, dispatcher, domain):
    for channel in ("sms", "voice"):
        tracker = make_tracker("", slots={"phone": PHONE}, channel=channel)
        tracker.latest_message["metadata"] = {"phone": PHONE}
        assert "phone_code" not in asyncio.run(
            ValidateBookingForm(stores).required_slots(FORM, dispatcher, tracker, domain))
    web = make_tracker("", slots={"phone": PHONE}, channel="webchat")
    web.latest_message["metadata"] = {"phone": PHONE}  # only SMS/voice numbers are the channel's own
    assert "phone_code" in asyncio.run(ValidateBookingForm(stores).required_slots(FORM, dispatcher, web, domain))
    assert stores.code_sender.sent == []


def test_an_unproved_phone_never_books_nor_sees_an_existing_booking(stores, dispatcher, domain, open_day):
    booking = stores.casework.book(BookingRequest("passport", "tianhe_center", open_day, "10:00", "受害人", PHONE), 4)
    slots = {"service": "passport", "center": "tianhe_center", "booking_date": open_day.isoformat(),
             "booking_time": "11:00", "person_name": "攻击者", "phone": PHONE, "booking_confirmed": True,
             "phone_code": PROVED}  # a forged slot value is not a proof
    run(ActionBookAppointment(stores), dispatcher, make_tracker("确认", "affirm", slots=slots), domain)
    run(ActionQueryAppointment(stores), dispatcher,
        make_tracker("", slots={"booking_ref": booking.ref, "phone": PHONE, "phone_code": PROVED}), domain)
    assert responses(dispatcher) == ["utter_phone_not_proved", "utter_phone_not_proved"]
    assert booking.ref not in json.dumps(dispatcher.messages)
    dispatcher.messages.clear()
    prove_phone(stores, PHONE)
    run(ActionQueryAppointment(stores), dispatcher, make_tracker("", slots={"booking_ref": booking.ref,
                                                                            "phone": PHONE}), domain)
    assert responses(dispatcher) == ["utter_booking_details"]


def test_bookings_above_the_threshold_raise_the_velocity_alert(stores):
    proofs = stores.phone_proofs
    for i in range(proofs.limits.max_bookings_per_client + 1):
        proofs.record_booking(booking_ref=f"YY{i:06d}", center_id="tianhe_center", client_hash="c0ffee",
                              channel="webchat")
    proofs.record_booking(booking_ref="YY999999", center_id="tianhe_center", client_hash="quiet", channel="webchat")
    [alert] = proofs.velocity_alerts()
    assert (alert.kind, alert.key, alert.count) == ("client", "c0ffee", proofs.limits.max_bookings_per_client + 1)
