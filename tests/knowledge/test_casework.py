"""Bookings (capacity, one per phone and service, concurrency), cases, feedback records."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest

from casework.repository import AlreadyBooked, BookingNotFound, BookingRequest, CaseworkRepository, SlotFull
from common.clock import city_today

DAY = city_today() + dt.timedelta(days=7)


@pytest.fixture
def casework(seeded_url):
    from knowledge.db import make_engine, session_factory

    engine = make_engine(seeded_url)
    yield CaseworkRepository(session_factory(engine))
    engine.dispose()


def req(phone: str = "+8613900001234", **kw) -> BookingRequest:
    base = {"service_id": "passport", "center_id": "tianhe_center", "date": DAY, "slot_start": "09:00",
            "name": "陈示例", "phone": phone}
    base.update(kw)
    return BookingRequest(**base)


def test_booking_gets_a_reference_and_fills_places_in_order(casework):
    a = casework.book(req("+8613900000001"), capacity=2)
    b = casework.book(req("+8613900000002"), capacity=2)
    assert a.ref.startswith("YY") and len(a.ref) == 8 and a.ref != b.ref
    assert (a.place_no, b.place_no) == (1, 2)
    with pytest.raises(SlotFull):
        casework.book(req("+8613900000003"), capacity=2)
    assert casework.slot_usage("tianhe_center", "passport", DAY) == {"09:00": 2}


def test_one_active_booking_per_phone_and_service(casework):
    first = casework.book(req(), capacity=4)
    with pytest.raises(AlreadyBooked) as exc:
        casework.book(req(slot_start="10:00"), capacity=4)
    assert exc.value.booking.ref == first.ref
    assert casework.book(req(service_id="id_card"), capacity=4).ref  # another service is fine


def test_cancel_frees_the_place_and_allows_a_new_booking(casework):
    b = casework.book(req(), capacity=1)
    with pytest.raises(BookingNotFound):
        casework.cancel_booking(b.ref, "+8613900009999")  # wrong phone
    casework.cancel_booking(b.ref.lower(), "+8613900001234")
    assert casework.find_booking(b.ref, "+8613900001234").status.value == "cancelled"
    with pytest.raises(BookingNotFound):
        casework.cancel_booking(b.ref, "+8613900001234")  # already cancelled
    assert casework.book(req(), capacity=1).place_no == 1


def test_past_booking_does_not_block_a_new_one(casework):
    from casework.models import Booking

    with casework.factory() as s:
        s.add(Booking(ref="YY000001", service_id="passport", center_id="tianhe_center",
                      date=city_today() - dt.timedelta(days=3), slot_start="09:00", place_no=1,
                      name="x", phone="+8613900001234"))
        s.commit()
    assert casework.book(req(), capacity=4).ref != "YY000001"


@pytest.mark.parametrize("threads", [12])
def test_concurrent_requests_never_double_book(casework, threads):
    capacity = 3
    results: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            b = casework.book(req(f"+86139000{i:05d}"), capacity=capacity)
            outcome = f"ok:{b.place_no}"
        except SlotFull:
            outcome = "full"
        with lock:
            results.append(outcome)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    booked = sorted(r for r in results if r.startswith("ok"))
    assert booked == ["ok:1", "ok:2", "ok:3"]
    assert results.count("full") == threads - capacity
    assert casework.slot_usage("tianhe_center", "passport", DAY) == {"09:00": capacity}


def test_case_numbers_and_history(casework):
    case = casework.create_case(description="路灯坏了", location="天河路", contact_phone="+8613900001234",
                                channel="rest", sender_hash="abc")
    assert re.fullmatch(r"TS\d{14}", case.number) and case.phone_last4 == "1234"  # TS + YYMMDD + 8 random digits
    stored = casework.get_case(case.number.lower())
    assert stored.status == "received" and "13900001234" not in stored.contact_sealed + stored.contact_phone
    from casework.cases import CaseDesk

    assert [e.to_status for e in CaseDesk(casework.factory).events(case.number)] == ["received"]


def test_verification_failures_are_counted_per_sender(casework):
    for ok in (False, False, True):
        casework.record_verification("s1", "202611100012", ok)
    casework.record_verification("s2", "202611100012", False)
    assert casework.failed_verifications("s1") == 2
    assert casework.failed_verifications("s1", within=dt.timedelta(seconds=0)) == 0


def test_sample_applications_load_once(casework):
    assert casework.load_sample_applications() >= 6
    assert casework.load_sample_applications() == 0
    app = casework.get_application("202611100012")
    assert app.service_id == "passport" and [e.status for e in app.events][-1] == "ready"


def test_rating_range_is_enforced(casework):
    casework.record_rating(score=5, context="booking", service_id="passport", channel="rest", sender_hash="x")
    with pytest.raises(ValueError):
        casework.record_rating(score=6, context="booking", service_id=None, channel="rest", sender_hash="x")
    assert [r.score for r in casework.ratings()] == [5]
