"""A scripted attacker against the live stack, from the citizen side (issue 13, holes 1-3).

Everything goes through the real app server (web chat relay, rate limits, trusted-proxy
fix) to the real Rasa core and action server. Each attack counts its attempts and how
many got through; each asserts zero, and the figures go to ``bench/REPORT_security_citizen.md``.

Run: ``.venv-app/bin/python -m pytest tests/security/test_attacker_citizen.py -q -s``
"""

from __future__ import annotations

import itertools
import re
import secrets

import pytest

from common.status import BookingStatus
from tests.security import citizen_fixtures
from tests.security.citizen_fixtures import CitizenStack, book

citizen_stack_fixture = citizen_fixtures.citizen_stack_fixture  # provides the ``citizen_stack`` fixture

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

STATUS_SHOWN = "当前状态"   # words only a revealed status contains
LOCKED = "次数过多"          # utter_verification_locked
_addresses = itertools.count(10)


def fresh_address() -> str:
    """A documentation-range address no other attack uses (one per simulated machine)."""
    n = next(_addresses)
    return f"198.18.{n // 250}.{n % 250 + 1}"


def status_attempt(stack: CitizenStack, number: str, last4: str, **where: str) -> str:
    """One try with a brand-new browser (new server session): the number, then four digits; both replies."""
    browser = stack.browser(**where)
    first = browser.say(f"查下办件进度 {number}")
    return first + "\n" + browser.say(last4)


def guesses(right: str, n: int) -> list[str]:
    """``n`` wrong four-digit guesses, then the right one (a lockout must refuse even that)."""
    wrong = [f"{i:04d}" for i in range(n + 1) if f"{i:04d}" != right][:n]
    return [*wrong, right]


def test_rotating_sessions_from_one_address_cannot_brute_force_a_status(citizen_stack):
    home = fresh_address()
    replies = [status_attempt(citizen_stack, "202611200101", g, via_proxy_for=home) for g in guesses("2468", 12)]
    through = sum(STATUS_SHOWN in r for r in replies)
    citizen_stack.scoreboard.record("status lookup, new session cookie per try, one address", len(replies), through,
                                    "locked after the per-number/per-address limit")
    assert through == 0 and any(LOCKED in r for r in replies)


def test_a_forged_forwarded_for_from_outside_the_proxy_is_ignored(citizen_stack):
    # Unknown numbers, so only the per-address counter can stop this: it does, so the forged header was ignored.
    replies = [status_attempt(citizen_stack, f"20261122{i:04d}", "0000", spoofed_for=fresh_address())
               for i in range(12)]
    replies.append(status_attempt(citizen_stack, "202611150066", "8080", spoofed_for=fresh_address()))
    through = sum(STATUS_SHOWN in r for r in replies)
    citizen_stack.scoreboard.record("status lookup, forged X-Forwarded-For per try (not from the proxy)",
                                    len(replies), through, "the real address is locked; the right digits are refused")
    assert through == 0 and LOCKED in replies[-1]


def test_many_addresses_through_the_proxy_cannot_brute_force_one_number(citizen_stack):
    replies = [status_attempt(citizen_stack, "202611210008", g, via_proxy_for=fresh_address())
               for g in guesses("1357", 8)]
    through = sum(STATUS_SHOWN in r for r in replies)
    citizen_stack.scoreboard.record("status lookup, new address and session per try (botnet through the proxy)",
                                    len(replies), through, "the number itself locks")
    assert through == 0 and LOCKED in replies[-1]


def test_application_numbers_cannot_be_enumerated(citizen_stack):
    probes = ["202611030019", "202611030018", "202611030020", "202611039999", "TS26120312345678", "TS2612030001"]
    replies = {n: status_attempt(citizen_stack, n, "0000", via_proxy_for=fresh_address()) for n in probes}
    distinct = len(set(replies.values()))
    citizen_stack.scoreboard.record("enumerate application/case numbers (existing vs not)", len(probes),
                                    distinct - 1, "every probe got the same reply")
    assert distinct == 1 and STATUS_SHOWN not in replies["202611030019"]
    # ... and the owner, with the right digits, still gets the status
    assert STATUS_SHOWN in status_attempt(citizen_stack, "202611030019", "9753", via_proxy_for=fresh_address())


def test_knowing_a_phone_reads_and_cancels_no_booking(citizen_stack):
    core, victim_phone = citizen_stack.core, "13700001111"
    victim = citizen_stack.browser(via_proxy_for=fresh_address())
    done = book(victim, victim_phone, lambda: core.last_code(victim_phone))[-1]
    assert "预约成功" in done, done
    ref = re.search(r"YY\d{6}", done).group(0)
    seen: list[str] = []

    def wrong_code() -> str:
        return f"{secrets.randbelow(1_000_000):06d}"

    attacker_home = fresh_address()
    # (a) book the same service with the victim's phone: the old bot echoed the existing booking
    seen += book(citizen_stack.browser(via_proxy_for=attacker_home), victim_phone, wrong_code)
    # (b) look the booking up, and (c) cancel it, with a leaked reference and the phone
    for ask in ("查一下我的预约", "我要取消预约"):
        browser = citizen_stack.browser(via_proxy_for=attacker_home)
        seen += [browser.say(ask), browser.say(ref), browser.say(victim_phone)]
        seen += [browser.say(wrong_code()) for _ in range(3)]
    leaked = sum(ref in r or "已预约了" in r for r in seen)
    cancelled = int(citizen_stack.booking(ref, victim_phone).status != BookingStatus.active)
    codes = [s["text"] for s in core.sent_sms() if s["to"] == "+86" + victim_phone]
    shown_codes = sum(any(c[-6:] in r for r in seen) for c in codes)
    citizen_stack.scoreboard.record("read or cancel a booking knowing only the phone (and the reference)",
                                    len(seen), leaked + cancelled + shown_codes,
                                    f"{len(codes)} codes went to the victim's phone (cap per phone), none shown")
    assert leaked == 0 and cancelled == 0 and shown_codes == 0


def test_a_booking_flood_with_random_phones_books_nothing(citizen_stack):
    core, home = citizen_stack.core, fresh_address()
    phones = [f"1360{secrets.randbelow(10_000_000):07d}" for _ in range(12)]
    before = len(core.sent_sms())
    replies: list[str] = []
    for phone in phones:
        replies += book(citizen_stack.browser(via_proxy_for=home), phone, lambda: "123456",
                        when="下周五上午十点", name="刷号")
    booked = citizen_stack.bookings_for(phones)
    sms = len(core.sent_sms()) - before
    from casework.guards import GuardLimits

    cap = GuardLimits.load().max_codes_per_client
    citizen_stack.scoreboard.record("flood bookings with random phones from one address", len(phones), booked,
                                    f"{sms} code SMS sent in all (cap per address {cap})")
    assert booked == 0 and sms <= cap
