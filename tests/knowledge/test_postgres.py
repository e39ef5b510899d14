"""The knowledge base on a real, throw-away PostgreSQL server (Debian's package on 127.0.0.1)."""

from __future__ import annotations

import pytest

from devtools.pg import PostgresServer, postgres_unavailable_reason

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory):
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server, request):
    """A fresh, empty database on the module's server for each test."""
    return pg_server.create_database(request.node.name.lower()[:60])


def seeded(pg_url):
    from knowledge.db import make_engine, session_factory
    from knowledge.migrate import upgrade
    from knowledge.repository import KnowledgeRepository
    from knowledge.transfer import import_paths, seed_paths

    upgrade(pg_url)
    engine = make_engine(pg_url)
    report = import_paths(KnowledgeRepository(session_factory(engine)), seed_paths(), actor="seed")
    return engine, report


def test_migrate_seed_search_and_audit_on_postgres(pg_url):
    from alembic.script import ScriptDirectory

    from knowledge.db import session_factory
    from knowledge.migrate import alembic_config, current
    from knowledge.repository import KnowledgeRepository
    from knowledge.search import KnowledgeSearch

    engine, report = seeded(pg_url)
    assert current(pg_url) == ScriptDirectory.from_config(alembic_config(pg_url)).get_current_head()
    repo = KnowledgeRepository(session_factory(engine))
    assert report.created["service"] == 40 and report.created["faq"] >= 150
    search = KnowledgeSearch(repository=repo)
    assert search.search("扯证要带什么材料")[0].service_id == "marriage_registration"
    faq = repo.create_faq({"service_id": "passport", "question": "护照可以邮寄到家吗", "answer": "可以选择邮寄。",
                           "status": "published"}, actor="editor")
    assert search.search("护照邮寄到家")[0].faq_id == faq.id
    assert repo.audit_log(entity_type="faq", entity_id=str(faq.id))[0].actor == "editor"
    engine.dispose()


def test_concurrent_bookings_on_postgres_fill_exactly_the_capacity(pg_url):
    import datetime as dt
    import threading

    from casework.repository import BookingRequest, CaseworkRepository, SlotFull
    from common.clock import city_today
    from knowledge.db import session_factory

    engine, _ = seeded(pg_url)
    casework = CaseworkRepository(session_factory(engine))
    day = city_today() + dt.timedelta(days=5)
    outcomes: list[str] = []
    barrier = threading.Barrier(16)

    def worker(i: int) -> None:
        barrier.wait()
        request = BookingRequest("id_card", "yuexiu_center", day, "14:00", "示例", f"+86139000{i:05d}")
        try:
            outcomes.append(f"ok:{casework.book(request, capacity=4).place_no}")
        except SlotFull:
            outcomes.append("full")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(o for o in outcomes if o != "full") == ["ok:1", "ok:2", "ok:3", "ok:4"]
    assert outcomes.count("full") == 12
    engine.dispose()
