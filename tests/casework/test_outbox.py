"""The outbox on a migrated database: idempotent enqueue, atomic claims, leases, backoff, quiet hours."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from casework.outbox import NoticeStatus, Outbox, OutboxPolicy, QuietHours
from common.clock import CITY_TZ
from common.sealing import Sealer, make_sealer
from knowledge.models import utcnow

PHONE = "+8613800138000"


def make_outbox(url: str, **policy: Any) -> Outbox:
    from knowledge.db import make_engine, session_factory

    defaults: dict[str, Any] = {"lease_s": 60.0, "backoff_first_s": 30.0, "max_attempts": 3}
    defaults.update(policy)
    return Outbox(session_factory(make_engine(url)), sealer=Sealer(make_sealer(Fernet.generate_key().decode())),
                  policy=OutboxPolicy(**defaults))


@pytest.fixture
def outbox(db_url: str) -> Iterator[Outbox]:
    ob = make_outbox(db_url)
    yield ob
    ob.factory.kw["bind"].dispose()


def queue(ob: Outbox, key: str, channel: str = "sms", **kw: Any) -> bool:
    return ob.enqueue(key=key, kind="test", channel=channel, recipient=kw.pop("recipient", PHONE),
                      body=kw.pop("body", f"通知{key}"), **kw)


def test_enqueue_is_idempotent_on_the_key_and_seals_the_recipient(outbox: Outbox) -> None:
    assert queue(outbox, "k1") is True
    assert queue(outbox, "k1", body="另一段文字") is False
    assert outbox.counts() == {"pending": 1}
    row = outbox.get("k1")
    assert row is not None and row.body == "通知k1"
    assert PHONE not in row.recipient_sealed and outbox.sealer.unseal(row.recipient_sealed) == PHONE
    with outbox.factory() as s:
        raw = s.execute(text("select recipient_sealed from outbox")).scalar_one()
    assert "138" not in raw


def test_enqueue_refuses_a_notice_without_recipient_or_body(outbox: Outbox) -> None:
    with pytest.raises(ValueError):
        queue(outbox, "k", recipient="")
    with pytest.raises(ValueError):
        queue(outbox, "k", body="  ")


def test_two_workers_claiming_at_once_never_get_the_same_notice(outbox: Outbox) -> None:
    for i in range(40):
        queue(outbox, f"n{i}")
    got: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def work(name: str) -> None:
        barrier.wait()
        while batch := outbox.claim(name, limit=3):
            got[name].extend(c.id for c in batch)

    threads = [threading.Thread(target=work, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(got["a"] + got["b"]) == sorted(set(got["a"]) | set(got["b"]))  # no id twice
    assert len(got["a"]) + len(got["b"]) == 40
    assert outbox.counts() == {"sending": 40}


def test_a_claimed_notice_is_not_claimed_again_until_its_lease_expires(outbox: Outbox) -> None:
    queue(outbox, "k")
    [first] = outbox.claim("w1", lease=0.3)
    assert first.reconcile_since is None and first.attempts == 1
    assert outbox.claim("w2") == []
    import time

    time.sleep(0.4)
    [again] = outbox.claim("w2")  # w1 died: the notice is not lost
    assert again.id == first.id and again.attempts == 2
    assert again.reconcile_since is not None  # w1 may have sent it: w2 must look it up first
    assert outbox.mark_sent(first, "SM-late") is False  # w1's record is fenced off
    assert outbox.mark_sent(again, "SM1") is True
    row = outbox.get("k")
    assert row is not None and row.status == NoticeStatus.sent and row.provider_ref == "SM1"
    assert outbox.claim("w3", lease=0.01) == []


def test_failed_attempts_back_off_exponentially_then_give_up(outbox: Outbox) -> None:
    queue(outbox, "k")
    delays = []
    for attempt in range(1, 4):
        with outbox.factory() as s:  # make it due now
            s.execute(text("update outbox set next_attempt_at = :t"), {"t": utcnow() - dt.timedelta(seconds=1)})
            s.commit()
        [c] = outbox.claim("w")
        assert c.attempts == attempt
        before = utcnow()
        assert outbox.mark_failed(c, "HTTP 500")
        row = outbox.get("k")
        assert row is not None
        delays.append((row.next_attempt_at.replace(tzinfo=dt.timezone.utc) - before).total_seconds())
    assert 29 <= delays[0] <= 31 and 59 <= delays[1] <= 61
    row = outbox.get("k")
    assert row is not None and row.status == NoticeStatus.failed and row.last_error == "HTTP 500"
    assert outbox.claim("w") == []


def test_a_refused_notice_is_never_retried(outbox: Outbox) -> None:
    queue(outbox, "k")
    [c] = outbox.claim("w", lease=0.01)
    assert outbox.refused(c, "opted out")
    import time

    time.sleep(0.05)
    assert outbox.claim("w") == []
    assert outbox.counts() == {"refused": 1}


@pytest.mark.parametrize(("local", "until"), [
    ("2026-12-03 22:30", "2026-12-04 08:00"),
    ("2026-12-04 07:59", "2026-12-04 08:00"),
    ("2026-12-03 21:00", "2026-12-04 08:00"),
    ("2026-12-04 08:00", None),
    ("2026-12-04 20:59", None),
])
def test_quiet_hours_hold_sms_until_eight_in_the_morning_city_time(local: str, until: str | None) -> None:
    window = OutboxPolicy.load().quiet_hours["sms"]
    now = dt.datetime.fromisoformat(local).replace(tzinfo=CITY_TZ)
    held = window.holds_until(now)
    expected = dt.datetime.fromisoformat(until).replace(tzinfo=CITY_TZ) if until else None
    assert held == expected


def test_a_notice_queued_for_the_night_is_held_until_morning(db_url: str) -> None:
    outbox = make_outbox(db_url, quiet_hours=OutboxPolicy.load().quiet_hours)
    night = dt.datetime(2099, 3, 2, 23, 0, tzinfo=CITY_TZ)
    queue(outbox, "night", not_before=night)
    queue(outbox, "web", channel="webchat", recipient="wabc", not_before=night)
    sms, web = outbox.get("night"), outbox.get("web")
    assert sms is not None and web is not None
    assert sms.status == NoticeStatus.held
    assert sms.next_attempt_at.replace(tzinfo=dt.timezone.utc) == dt.datetime(2099, 3, 3, 8, 0, tzinfo=CITY_TZ)
    assert web.status == NoticeStatus.pending  # quiet hours are per channel


def test_hold_gives_the_attempt_back(outbox: Outbox) -> None:
    queue(outbox, "k")
    [c] = outbox.claim("w")
    assert outbox.hold(c, utcnow() - dt.timedelta(seconds=1))
    [again] = outbox.claim("w")
    assert again.attempts == 1 and again.reconcile_since is None


def test_policy_file_and_environment_overrides() -> None:
    policy = OutboxPolicy.load(env={"OUTBOX_LEASE_S": "5", "OUTBOX_MAX_ATTEMPTS": "2"})
    assert policy.lease_s == 5 and policy.max_attempts == 2
    assert policy.lease_s >= 0 and policy.backoff(1) == dt.timedelta(seconds=30)
    assert policy.backoff(20) == dt.timedelta(seconds=3600)
    assert QuietHours(dt.time(1), dt.time(2)).holds_until(
        dt.datetime(2026, 1, 1, 3, tzinfo=CITY_TZ)) is None


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_on_postgresql_never_get_the_same_notice(tmp_path_factory: pytest.TempPathFactory) -> None:
    from devtools.pg import PostgresServer, postgres_unavailable_reason
    from knowledge.migrate import upgrade

    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    server.start()
    try:
        url = server.create_database("outbox")
        upgrade(url)
        a, b = make_outbox(url), make_outbox(url)
        b._sealer = a.sealer
        for i in range(60):
            queue(a, f"n{i}")
        got: dict[str, list[int]] = {"a": [], "b": []}
        barrier = threading.Barrier(2)

        def work(name: str, ob: Outbox) -> None:
            barrier.wait()
            while batch := ob.claim(name, limit=4):
                got[name].extend(c.id for c in batch)

        threads = [threading.Thread(target=work, args=("a", a)), threading.Thread(target=work, args=("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(got["a"]) + len(got["b"]) == 60
        assert not set(got["a"]) & set(got["b"])
        assert got["a"] and got["b"]  # both took part (SKIP LOCKED lets them work side by side)
        for ob in (a, b):
            ob.factory.kw["bind"].dispose()
    finally:
        server.stop()
