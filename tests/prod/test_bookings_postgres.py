"""50 citizens confirm the last places of one slot at once, through the booking action, on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from rasa_sdk.executor import CollectingDispatcher

from devtools.pg import PostgresServer, postgres_unavailable_reason
from tests.actions.conftest import make_tracker
from tests.domain_files import domain as load_domain

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def pg_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from actions.settings import ActionSettings
    from actions.stores import Stores
    from casework.repository import CaseworkRepository
    from knowledge.db import make_engine, session_factory
    from knowledge.migrate import upgrade
    from knowledge.repository import KnowledgeRepository
    from knowledge.search import KnowledgeSearch
    from knowledge.transfer import import_paths, seed_paths

    server = PostgresServer(tmp_path_factory.mktemp("pg_bookings"))
    server.start()
    try:
        url = server.create_database("bookings")
        upgrade(url)
        engine = make_engine(url)
        factory = session_factory(engine)
        knowledge = KnowledgeRepository(factory)
        import_paths(knowledge, seed_paths(), actor="seed")
        yield Stores(knowledge=knowledge, search=KnowledgeSearch(repository=knowledge),
                     casework=CaseworkRepository(factory), settings=ActionSettings.load())
        engine.dispose()
    finally:
        server.stop()


def test_fifty_concurrent_confirmations_book_exactly_the_last_places_and_offer_the_rest_other_slots(
        pg_stores, monkeypatch: pytest.MonkeyPatch) -> None:
    from actions.appointment import ActionBookAppointment, ranges_for
    from casework.repository import BookingRequest
    from common.clock import CITY_TZ, city_today

    stores = pg_stores
    moment = dt.datetime.combine(city_today(), dt.time(10, 0), tzinfo=CITY_TZ)
    monkeypatch.setattr("actions.appointment.now", lambda: moment)
    center = stores.knowledge.get_center("tianhe_center")
    day = moment.date() + dt.timedelta(days=1)
    while not ranges_for(center, day):
        day += dt.timedelta(days=1)
    capacity = center.slot_capacity
    last_places = 2
    for i in range(capacity - last_places):  # the slot is nearly full already
        stores.casework.book(BookingRequest("passport", "tianhe_center", day, "10:00", "x", f"+86138000{i:05d}"),
                             capacity)
    domain = load_domain()
    action = ActionBookAppointment(stores)
    barrier = threading.Barrier(50)
    outcomes: dict[int, tuple[list[str], dict]] = {}

    def citizen(i: int) -> None:
        slots = {"service": "passport", "center": "tianhe_center", "booking_date": day.isoformat(),
                 "booking_time": "10:00", "person_name": "陈示例", "phone": f"+86139100{i:05d}",
                 "booking_confirmed": True}
        dispatcher = CollectingDispatcher()
        barrier.wait()
        tracker = make_tracker("确认", "affirm", slots=slots, sender=f"c{i}", channel="sms")
        tracker.latest_message["metadata"] = {"phone": slots["phone"]}  # SMS: the caller's own number, proved
        events = asyncio.run(action.run(dispatcher, tracker, domain))
        outcomes[i] = ([m.get("response") for m in dispatcher.messages],
                       {"events": events, "buttons": [m.get("buttons") for m in dispatcher.messages]})

    threads = [threading.Thread(target=citizen, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert len(outcomes) == 50
    done = [i for i, (r, _) in outcomes.items() if "utter_booking_done" in r]
    taken = [i for i, (r, _) in outcomes.items() if r == ["utter_booking_slot_taken"]]
    assert len(done) == last_places and len(taken) == 50 - last_places
    for i in taken:  # every one of them is offered other times, none of them the full one
        buttons = outcomes[i][1]["buttons"][0]
        assert buttons and all('"10:00"' not in b["payload"] for b in buttons)
    assert stores.casework.slot_usage("tianhe_center", "passport", day).get("10:00") == capacity
