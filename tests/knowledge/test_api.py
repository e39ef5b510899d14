"""Knowledge JSON API through the app server's Flask test client."""

from __future__ import annotations

import re

import pytest

from server import create_app

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def client(seeded_url, monkeypatch):
    from knowledge.db import make_engine, session_factory
    from knowledge.repository import KnowledgeRepository

    app = create_app({"TESTING": True})
    app.extensions["knowledge_repository"] = KnowledgeRepository(session_factory(make_engine(seeded_url)))
    return app.test_client()


def test_search_returns_hits_as_json(client):
    res = client.get("/api/v1/knowledge/search", query_string={"q": "港澳通行证签注怎么办", "k": 3})
    assert res.status_code == 200
    body = res.get_json()
    assert body["query"] == "港澳通行证签注怎么办"
    assert 1 <= len(body["hits"]) <= 3 and body["hits"][0]["service_id"] == "hk_macau_permit"
    assert {"service_id", "faq_id", "title", "score", "confidence"} <= set(body["hits"][0])


@pytest.mark.parametrize(
    ("params", "code"),
    [({}, "empty_query"), ({"q": "   "}, "empty_query"), ({"q": "x" * 1001}, "query_too_long"),
     ({"q": "护照", "k": "abc"}, "bad_k"), ({"q": "护照", "k": "0"}, "bad_k")],
)
def test_bad_parameters_give_400_with_a_clear_error(client, params, code):
    res = client.get("/api/v1/knowledge/search", query_string=params)
    assert res.status_code == 400 and res.get_json()["error"] == code
    assert res.get_json()["message"]


def test_invalid_utf8_in_query_string_is_handled(client):
    res = client.get("/api/v1/knowledge/search?q=%FF%FE%FD")
    assert res.status_code == 200 and res.get_json()["hits"] == []


def test_service_detail_and_404(client):
    body = client.get("/api/v1/knowledge/services/passport").get_json()
    assert body["id"] == "passport" and body["faqs"]
    res = client.get("/api/v1/knowledge/services/nope")
    assert res.status_code == 404 and res.get_json()["error"] == "not_found"


def test_centers_filter_by_service(client):
    centers = client.get("/api/v1/knowledge/centers", query_string={"service_id": "passport"}).get_json()["centers"]
    assert len(centers) >= 12
    assert all(c["public_phone"] == (c["phone"] or "12345") for c in centers)


def test_oversized_body_is_refused_with_413(client):
    res = client.post("/api/v1/knowledge/search", data=b"x" * (2 * 1024 * 1024))
    assert res.status_code == 413


def test_unknown_api_route_is_json_404(client):
    res = client.get("/api/v1/knowledge/nothing-here")
    assert res.status_code == 404


def test_the_knowledge_api_is_limited_per_client_address(client):
    from server.limits import load_limits

    per_minute = int(load_limits()["knowledge_api"]["per_client"].split()[0])
    codes = [client.get("/api/v1/knowledge/centers").status_code for _ in range(per_minute + 1)]
    assert codes[:-1] == [200] * per_minute and codes[-1] == 429
    other = client.get("/api/v1/knowledge/centers", environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert other.status_code == 200
    assert CJK.search(client.get("/api/v1/knowledge/centers").get_json()["message"])
