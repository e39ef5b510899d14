"""End to end through the running servers: the web chat relay, the action server, the database."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests

from common.calendar import is_working_day
from common.clock import city_today
from tests.domain_files import domain as load_domain

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def rest(core, sender: str, text: str) -> list[dict]:
    res = requests.post(f"{core.rasa_url}/webhooks/webchat/webhook", json={"sender": sender, "message": text},
                        timeout=60)
    res.raise_for_status()
    return res.json()


def test_the_action_server_serves_exactly_the_domains_custom_actions(live_core):
    served = {a["name"] for a in requests.get(f"{live_core.actions_url}/actions", timeout=10).json()}
    dom = load_domain()
    custom = {a for a in dom["actions"] if a.startswith(("action_", "validate_"))}
    assert served == custom


def test_a_guide_question_is_answered_from_the_knowledge_base(live_core):
    answer = texts(rest(live_core, "e2e-guide", "办护照要带什么材料"))
    assert "护照" in answer and "身份证" in answer


def proved(core, sender: str, reply: list[dict], phone: str) -> list[dict]:
    """Answer the SMS-code question the way the phone's owner does (the code from the development sink)."""
    assert "验证码" in texts(reply), texts(reply)
    assert any((m.get("custom") or {}).get("expect") == "digits" for m in reply)  # a structured hint, 6 digits
    code = core.last_code(phone)
    assert code and code not in texts(reply)  # sent by SMS, never shown
    return rest(core, sender, code)


def test_a_full_booking_then_lookup_and_cancel_by_reference_and_phone(live_core):
    sender = "e2e-booking"
    day = city_today() + dt.timedelta(days=2)  # a working weekday, whatever day the suite runs on
    while not (is_working_day(day) and day.weekday() < 5):
        day += dt.timedelta(days=1)
    steps = ["我想预约办护照", "天河", f"{day.month}月{day.day}日", "上午十点", "陈小红", "13900005678"]
    for text in steps:
        last = rest(live_core, sender, text)
    last = proved(live_core, sender, last, "13900005678")
    assert "请确认预约信息" in texts(last) and "139****5678" in texts(last)
    done = texts(rest(live_core, sender, "确认"))
    ref = re.search(r"YY\d{6}", done)
    assert ref, done
    ref = ref.group(0)

    other = "e2e-booking-lookup"
    rest(live_core, other, "查一下我的预约")
    rest(live_core, other, ref)
    found = texts(proved(live_core, other, rest(live_core, other, "13900005678"), "13900005678"))
    assert ref in found and "天河" in found

    rest(live_core, "e2e-cancel", "我要取消预约")
    rest(live_core, "e2e-cancel", ref)
    asked = rest(live_core, "e2e-cancel", "13900005678")
    cancelled = texts(proved(live_core, "e2e-cancel", asked, "13900005678"))
    assert "取消" in cancelled and ref in cancelled


def test_status_is_shown_only_after_the_identity_check(live_core):
    sender = "e2e-status"
    rest(live_core, sender, "查下办件进度")
    asked = texts(rest(live_core, sender, "202611100012"))
    assert "后四位" in asked
    wrong = texts(rest(live_core, sender, "9999"))
    assert "不一致" in wrong and "已办好" not in wrong
    rest(live_core, sender, "202611100012")  # a failed check asks for the number again
    right = texts(rest(live_core, sender, "1234"))
    assert "已办好，可领取" in right and "普通护照申领" in right
