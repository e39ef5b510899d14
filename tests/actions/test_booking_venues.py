"""The booking form offers only venues that handle the service and refuses online-only services."""

from __future__ import annotations

import asyncio

from actions.appointment import ValidateBookingForm
from tests.actions.conftest import make_tracker, responses


def validate(action, slot, value, dispatcher, tracker, domain):
    return asyncio.run(getattr(action, f"validate_{slot}")(value, dispatcher, tracker, domain))


def test_online_only_service_is_refused_with_its_online_route(stores, dispatcher, domain):
    tracker = make_tracker("企业年报")
    result = validate(ValidateBookingForm(stores), "service", "business_annual_report", dispatcher, tracker, domain)
    assert result == {"service": None}
    assert responses(dispatcher) == ["utter_booking_not_at_venue"]
    assert "国家企业信用信息公示系统" in dispatcher.messages[0]["online_route"]


def test_marriage_in_a_district_goes_to_its_marriage_registry(stores, dispatcher, domain):
    tracker = make_tracker("海珠", slots={"service": "marriage_registration"})
    form = ValidateBookingForm(stores)
    assert validate(form, "center", "海珠", dispatcher, tracker, domain) == {"center": "haizhu_marriage_registry"}
    # The general centre's id (an entity from "去海珠中心") leads to the registry of its district, not to the hall.
    assert validate(form, "center", "haizhu_center", dispatcher, tracker, domain) == {"center": "haizhu_marriage_registry"}


def test_choices_offered_all_handle_the_service(stores, dispatcher, domain):
    tracker = make_tracker("月球", slots={"service": "id_card"})
    assert validate(ValidateBookingForm(stores), "center", "月球", dispatcher, tracker, domain) == {"center": None}
    offered = [b["payload"] for b in dispatcher.messages[1]["buttons"]]
    assert offered and all("police_hukou" in p for p in offered)
