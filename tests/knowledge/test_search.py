"""Search: Chinese normalisation, synonyms, live edits, bad input, confidences."""

from __future__ import annotations

import pytest

from knowledge.search import KnowledgeSearch
from tests.conftest import faq_data, service_data


@pytest.fixture
def search(repo):
    repo.save_service(service_data(), actor="a")
    repo.save_service(service_data(id="marriage_registration", name="结婚登记", category="婚姻登记",
                                   summary="内地居民办理结婚登记。", keywords=["登记结婚"]), actor="a")
    return KnowledgeSearch(repository=repo)


def test_hit_carries_ids_title_score_and_confidence(search, repo):
    faq = repo.create_faq(faq_data(), actor="a")
    hits = search.search("办护照要多少钱", k=5)
    assert hits[0].service_id == "passport" and hits[0].faq_id == faq.id
    assert hits[0].title == "办护照要多少钱"
    assert 0.0 < hits[0].confidence <= 1.0 and hits[0].score > 0
    assert set(hits[0].to_dict()) == {"service_id", "faq_id", "title", "score", "confidence"}


def test_one_hit_per_service_best_first(search, repo):
    repo.create_faq(faq_data(), actor="a")
    repo.create_faq(faq_data(question="护照要多久", topic="time"), actor="a")
    hits = search.search("护照", k=5)
    assert [h.service_id for h in hits].count("passport") == 1
    assert hits == sorted(hits, key=lambda h: -h.score)


@pytest.mark.parametrize("query", ["結婚登記要帶什麼", "ＰＡＳＳＰＯＲＴ办护照", "扯证要带什么", "领证"])
def test_traditional_fullwidth_and_synonyms(search, query):
    hits = search.search(query)
    assert hits, query
    expected = "passport" if "护照" in query else "marriage_registration"
    assert hits[0].service_id == expected


def test_published_faq_is_searchable_at_once_and_unpublished_disappears(search, repo):
    assert all(h.faq_id is None for h in search.search("护照加急费"))
    faq = repo.create_faq(faq_data(question="护照加急费怎么收"), actor="editor")
    assert search.search("护照加急费")[0].faq_id == faq.id
    repo.update_faq(faq.id, {"status": "draft"}, actor="editor")
    assert all(h.faq_id != faq.id for h in search.search("护照加急费"))


def test_expired_faq_is_not_served(search, repo):
    faq = repo.create_faq(faq_data(question="护照加急费怎么收", expires_on="2020-01-01",
                                   effective_from="2019-01-01"), actor="editor")
    assert all(h.faq_id != faq.id for h in search.search("护照加急费"))


def test_a_second_process_sees_edits_through_the_revision(search, repo, db_url):
    from knowledge.db import make_engine, session_factory
    from knowledge.repository import KnowledgeRepository

    other = KnowledgeSearch(repository=KnowledgeRepository(session_factory(make_engine(db_url))))
    other.search("护照")  # builds its index
    faq = repo.create_faq(faq_data(question="护照照片有什么要求", topic="materials"), actor="editor")
    assert other.search("护照照片要求")[0].faq_id == faq.id


BAD_INPUTS = [
    "", "   ", "\n\t", "😀😀😀", "？？？", "<script>alert('x')</script>", "'; DROP TABLE faqs; --",
    "x" * 10_000, "护照" * 5_000, "\ud800\udc00 broken surrogates \udfff", "\x00\x01\x02", "١٢٣", "🇨🇳护照",
]


@pytest.mark.parametrize("query", BAD_INPUTS, ids=range(len(BAD_INPUTS)))
def test_bad_input_never_crashes(search, query):
    hits = search.search(query)
    assert isinstance(hits, list)
    assert all(0.0 <= h.confidence <= 1.0 for h in hits)


def test_meaningless_input_returns_nothing(search):
    for query in ["", "😀😀😀", "？？？", "\x00\x01"]:
        assert search.search(query) == []


def test_non_string_query_is_a_type_error(search):
    with pytest.raises(TypeError):
        search.search(None)  # type: ignore[arg-type]


def test_k_is_clamped(search):
    assert len(search.search("护照 结婚", k=0)) == 1
    assert len(search.search("护照 结婚", k=999)) == 2


def test_good_match_is_more_confident_than_a_weak_one(seeded_search):
    strong = seeded_search.search("护照过期了怎么换新的")[0]
    weak = seeded_search.search("今天天气点样，想去饮茶")
    assert strong.service_id == "passport"
    assert not weak or weak[0].confidence < strong.confidence
