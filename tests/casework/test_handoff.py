"""The agent queue (casework.handoff): places, ownership races, transcripts, figures — SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from casework.handoff import DeskSettings, HandoffRepository, LiveOwnership, TakeRefused, expected_wait_s
from common.clock import CITY_TZ
from knowledge.db import make_engine, session_factory, session_scope

ROUNDS = 12


def enqueue(repo: HandoffRepository, conv: str, channel: str = "webchat", reason: str = "requested"):
    return repo.enqueue(conversation_id=conv, channel=channel, sender_hash="h-" + conv, reason=reason,
                        summary={"intent": "ask_service_guide", "service": "passport", "slots": {}, "last_messages": []})


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A throw-away PostgreSQL server for the module (skipped when the Debian package is absent)."""
    from devtools.pg import PostgresServer, postgres_unavailable_reason

    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database per test: SQLite in a file, or a fresh database on the PostgreSQL server."""
    from knowledge.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kb.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database(request.node.name.lower()[:60])
    upgrade(url)
    return url


def repo_on(url: str) -> HandoffRepository:
    return HandoffRepository(session_factory(make_engine(url)))


def test_two_agents_racing_for_each_conversation_exactly_one_wins(url):
    setup = repo_on(url)
    sessions = [enqueue(setup, f"webchat-race-{i}")[0].id for i in range(ROUNDS)]
    # Each agent on its own engine (own connections): real concurrent transactions.
    agents = {"alice": repo_on(url), "bob": repo_on(url)}
    winners: dict[int, list[str]] = {sid: [] for sid in sessions}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def agent(name: str) -> None:
        for sid in sessions:
            barrier.wait()
            try:
                agents[name].take(sid, name)
                winners[sid].append(name)
            except TakeRefused:
                pass
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=agent, args=(n,)) for n in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert all(len(w) == 1 for w in winners.values()), winners
    for sid, (winner,) in winners.items():
        assert setup.owner(sid) == winner
        assert setup.get(sid).state == "active"


def test_ownership_is_a_database_constraint_not_a_python_check(url):
    repo = repo_on(url)
    session, _ = enqueue(repo, "sms-abc")
    repo.take(session.id, "alice")
    with pytest.raises(IntegrityError), session_scope(repo.factory) as s:
        s.add(LiveOwnership(session_id=session.id, agent="bob"))


def test_one_open_session_per_conversation_and_places_in_line(url):
    repo = repo_on(url)
    first, place1 = enqueue(repo, "webchat-a")
    again, place_again = enqueue(repo, "webchat-a")
    _, place2 = enqueue(repo, "sms-b", channel="sms")
    assert (again.id, place1, place_again, place2) == (first.id, 1, 1, 2)
    repo.take(first.id, "alice")
    assert repo.position(first.id) == 0
    assert [q.conversation_id for q in repo.queue()] == ["webchat-a", "sms-b"]  # oldest first
    assert repo.finish(first.id, "alice", "ended")
    renewed, place = enqueue(repo, "webchat-a")  # a new hand-off after the first one ended
    assert renewed.id != first.id and place == 2


def test_transfer_end_and_the_transcript(url):
    repo = repo_on(url)
    session, _ = enqueue(repo, "telegram-x", channel="telegram")
    repo.take(session.id, "alice")
    with pytest.raises(TakeRefused):
        repo.take(session.id, "bob")
    assert not repo.transfer(session.id, "bob", "carol")  # only the owner may transfer
    assert repo.transfer(session.id, "alice", "bob") and repo.owner(session.id) == "bob"
    assert not repo.finish(session.id, "alice", "ended")
    first = repo.add_message(session.id, "citizen", "在吗")
    repo.add_message(session.id, "agent", "您好", agent="bob")
    assert [m.text for m in repo.messages(session.id)] == ["在吗", "您好"]
    assert [m.text for m in repo.messages(session.id, after_id=first.id)] == ["您好"]
    assert [m.text for m in repo.take_undelivered("telegram-x")] == ["您好"]
    assert repo.take_undelivered("telegram-x") == []  # fetched once
    assert repo.finish(session.id, "bob", "ended") and repo.owner(session.id) is None
    assert repo.open_session("telegram-x") is None


def test_notices_are_claimed_once_per_state(url):
    repo = repo_on(url)
    session, _ = enqueue(repo, "webchat-n")
    assert repo.claim_notice(session.id, "waiting") and not repo.claim_notice(session.id, "waiting")
    assert repo.claim_notice(session.id, "active")


def test_dashboard_figures(url):
    repo = repo_on(url)
    a, _ = enqueue(repo, "webchat-1")
    b, _ = enqueue(repo, "sms-2", channel="sms", reason="not_understood")
    enqueue(repo, "sms-3", channel="sms", reason="dissatisfied")
    repo.take(a.id, "alice")
    repo.expire(b.id, "timed_out")
    stats = repo.stats()
    assert stats["waiting"] == 1 and stats["active"] == 1 and stats["abandoned"] == 1
    assert stats["by_channel"] == {"webchat": 1, "sms": 2}
    assert stats["by_reason"] == {"requested": 1, "not_understood": 1, "dissatisfied": 1}
    assert stats["median_wait_s"] is not None and stats["median_wait_s"] >= 0


def test_desk_hours_follow_the_calendar(tmp_path):
    desk = DeskSettings.load()
    thursday_10 = dt.datetime(2026, 12, 3, 10, 0, tzinfo=CITY_TZ)
    assert desk.is_open(thursday_10)
    assert not desk.is_open(thursday_10.replace(hour=20))
    assert not desk.is_open(dt.datetime(2026, 12, 6, 10, 0, tzinfo=CITY_TZ))  # Sunday
    assert not desk.is_open(dt.datetime(2026, 10, 1, 10, 0, tzinfo=CITY_TZ))  # National Day
    assert expected_wait_s(3, desk) == 3 * desk.handle_s
    bad = tmp_path / "desk.yml"
    bad.write_text('hours: "18:00-08:00"\n', encoding="utf-8")
    with pytest.raises(ValueError):
        DeskSettings.load(bad)
