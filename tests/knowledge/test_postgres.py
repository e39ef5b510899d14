"""The knowledge base on a real, throw-away PostgreSQL server (Debian's package on 127.0.0.1)."""

from __future__ import annotations

import pytest

from tests.pg import PostgresServer, postgres_unavailable_reason

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory):
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    server.start()
    yield server.url("knowledge_test")
    server.stop()


def test_migrate_seed_search_and_audit_on_postgres(pg_url):
    from knowledge.db import make_engine, session_factory
    from knowledge.migrate import current, upgrade
    from knowledge.repository import KnowledgeRepository
    from knowledge.search import KnowledgeSearch
    from knowledge.transfer import import_paths, seed_paths

    upgrade(pg_url)
    assert current(pg_url) == "0001"
    engine = make_engine(pg_url)
    repo = KnowledgeRepository(session_factory(engine))
    report = import_paths(repo, seed_paths(), actor="seed")
    assert report.created["service"] == 40 and report.created["faq"] >= 150
    search = KnowledgeSearch(repository=repo)
    assert search.search("扯证要带什么材料")[0].service_id == "marriage_registration"
    faq = repo.create_faq({"service_id": "passport", "question": "护照可以邮寄到家吗", "answer": "可以选择邮寄。",
                           "status": "published"}, actor="editor")
    assert search.search("护照邮寄到家")[0].faq_id == faq.id
    assert repo.audit_log(entity_type="faq", entity_id=str(faq.id))[0].actor == "editor"
    engine.dispose()
