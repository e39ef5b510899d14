"""The agent console on two app servers sharing one database: take races, masking, replies to web chat."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import replace

import pytest
from flask.testing import FlaskClient

from casework.handoff import HandoffRepository
from tests.staff.conftest import Staff, as_user, post

PHONE_TEXT = "我的电话是13912345678，护照办好了吗"


@pytest.fixture
def second_app(staff: Staff, seeded_url: str, tmp_path):
    """Another app-server process on the same database (as behind nginx in production)."""
    from server import create_app

    return create_app({"TESTING": True, "KNOWLEDGE_DB_URL": seeded_url, "SECRET_KEY": secrets.token_hex(32),
                       "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker2.db'}"})


def open_desk(*apps) -> None:
    """Agents on duty around the clock (the desk's hours are tested in tests/casework)."""
    for app in apps:
        desk = app.extensions["live_agent_desk"]
        desk.settings = replace(desk.settings, start=dt.time(0, 0), end=dt.time(23, 59, 59), every_day=True)


def client_of(app) -> FlaskClient:
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


def queue_one(staff: Staff, conv: str = "webchat-abc") -> int:
    repo = HandoffRepository(staff.casework.factory)
    session, _ = repo.enqueue(conversation_id=conv, channel="webchat", sender_hash="h", reason="requested",
                              summary={"intent": "ask_service_guide", "service": "passport",
                                       "slots": {"phone": "13912345678"},
                                       "last_messages": [{"who": "citizen", "text": PHONE_TEXT}]})
    repo.add_message(session.id, "citizen", PHONE_TEXT)
    return session.id


def test_two_app_servers_share_the_queue_and_one_agent_wins(staff: Staff, second_app):
    open_desk(staff.app, second_app)
    sid = queue_one(staff)
    a = as_user(client_of(staff.app), "agent")
    b = as_user(client_of(second_app), "agent2")
    assert [r["id"] for r in b.get("/staff/agents/queue.json").get_json()["rows"]] == [sid]
    first = post(a, f"/staff/agents/{sid}/take")
    second = post(b, f"/staff/agents/{sid}/take")
    assert first.headers["Location"].endswith(f"/staff/agents/{sid}")
    assert second.headers["Location"].endswith("/staff/agents/")  # refused: someone else was quicker
    rows = b.get("/staff/agents/queue.json").get_json()["rows"]
    assert rows[0]["state"] == "active" and rows[0]["agent"] == "agent"
    assert post(b, f"/staff/agents/{sid}/reply", {"text": "抢答"}).status_code == 302
    assert [m["author"] for m in b.get(f"/staff/agents/{sid}/messages.json").get_json()["messages"]] == [
        "citizen", "bot"]  # agent2's reply was refused; the citizen was told an agent is on it


def test_the_citizen_gets_the_agents_reply_by_polling_once(staff: Staff, second_app):
    open_desk(staff.app, second_app)
    chat_session = "feedc0de" * 4  # a session the web chat relay issued
    sid = queue_one(staff, f"webchat-{chat_session}")
    agent = as_user(client_of(staff.app), "agent")
    post(agent, f"/staff/agents/{sid}/take")
    res = agent.post(f"/staff/agents/{sid}/reply", data={"text": "您好，请稍候", "csrf_token": _csrf(agent)},
                     headers={"Accept": "application/json"})
    assert res.get_json() == {"ok": True, "error": None}
    citizen = second_app.test_client()  # the page may be served by the other process
    assert citizen.post("/chat/api/poll", json={}).get_json()["messages"] == []  # no session cookie: nothing
    with second_app.test_request_context():
        from channels.webchat.relay import SESSION_COOKIE, _serializer

        citizen.set_cookie(SESSION_COOKIE, _serializer().dumps(chat_session), path="/chat")
    texts = [m.get("text") for m in citizen.post("/chat/api/poll", json={}).get_json()["messages"]]
    assert texts[-1] == "您好，请稍候" and any("人工坐席已接入" in (t or "") for t in texts)
    assert citizen.post("/chat/api/poll", json={}).get_json()["messages"] == []


def test_personal_data_is_masked_until_revealed_and_revealing_is_audited(staff: Staff):
    open_desk(staff.app)
    sid = queue_one(staff, "webchat-pii")
    agent = as_user(client_of(staff.app), "agent")
    page = agent.get(f"/staff/agents/{sid}").get_data(as_text=True)
    assert "13912345678" not in page and "139" in page
    assert all("13912345678" not in m["text"]
               for m in agent.get(f"/staff/agents/{sid}/messages.json").get_json()["messages"])
    post(agent, f"/staff/agents/{sid}/reveal")
    assert "13912345678" in agent.get(f"/staff/agents/{sid}").get_data(as_text=True)
    events = staff.knowledge.audit_log(limit=20)
    assert any(e.action == "reveal_pii" and e.entity_id == str(sid) and e.actor == "agent" for e in events)


def test_editors_do_not_see_the_agent_queue(staff: Staff, client: FlaskClient):
    as_user(client, "editor")
    assert client.get("/staff/agents/").status_code == 403
    assert "人工坐席" not in client.get("/staff/dashboard").get_data(as_text=True)


def _csrf(client: FlaskClient) -> str:
    from tests.staff.conftest import token

    return token(client, "/staff/account")
