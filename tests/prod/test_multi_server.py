"""The production profile under faults: two Rasa servers, two action servers, nginx, PG, Redis.

One stack per module (about 20 s to start with the CI model); the tests run in file
order only for speed — each one sets up the conversation it checks.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
import requests
import sqlalchemy

from devtools.prod_stack import ProdStack

pytestmark = [pytest.mark.rasa, pytest.mark.slow, pytest.mark.postgres]

APOLOGY = "抱歉，系统暂时出了点问题"
PHONE = "13900005678"


RELAY_HEADERS: dict[str, str] = {}  # the stack's relay token (set by the fixture below)


@pytest.fixture(autouse=True)
def _relay_token(prod_stack: ProdStack) -> None:
    RELAY_HEADERS["X-Relay-Token"] = prod_stack.relay_token


def say(url: str, sender: str, text: str, channel: str = "webchat") -> list[dict]:
    res = requests.post(f"{url}/webhooks/{channel}/webhook", json={"sender": sender, "message": text}, timeout=120,
                        headers=RELAY_HEADERS)
    assert res.status_code == 200, res.text
    return res.json()


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def rasa_url(stack: ProdStack, i: int) -> str:
    return f"http://127.0.0.1:{stack.ports.rasa[i]}"


def tracker_events(stack: ProdStack, sender: str) -> list[dict]:
    res = requests.get(f"{stack.core_url}/conversations/{sender}/tracker", params={"token": stack.api_token},
                       timeout=30)
    res.raise_for_status()
    return res.json()["events"]


def pg_rows(stack: ProdStack, sender: str) -> list[dict]:
    import psycopg

    with psycopg.connect(stack.db_url("tracker", driver="")) as conn:
        rows = conn.execute("SELECT data FROM events WHERE sender_id = %s ORDER BY id", (sender,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def test_twenty_concurrent_messages_alternating_between_rasa_servers_are_all_recorded_in_order(
        prod_stack: ProdStack) -> None:
    sender, n = "prod-order", 20
    say(prod_stack.core_url, sender, "你好")  # the conversation exists before the burst
    results: dict[int, int] = {}

    def send(i: int) -> None:
        time.sleep(i * 0.1)  # a defined arrival order; the messages still overlap heavily
        res = requests.post(f"{rasa_url(prod_stack, i % 2)}/webhooks/webchat/webhook",
                            json={"sender": sender, "message": f"你好 第{i:02d}条"}, timeout=180,
                            headers=RELAY_HEADERS)
        results[i] = res.status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert results == {i: 200 for i in range(n)}

    events = tracker_events(prod_stack, sender)
    users = [e["text"] for e in events if e["event"] == "user"]
    assert users == ["你好"] + [f"你好 第{i:02d}条" for i in range(n)]
    # No interleaving: every turn ends with action_listen before the next message.
    for k, e in enumerate(events):
        if e["event"] == "user" and k > 0:
            previous = [x for x in events[:k] if x["event"] in ("action", "user")][-1]
            assert previous["event"] == "action" and previous["name"] == "action_listen"


def test_a_booking_across_both_servers_works_and_the_tracker_rows_hold_no_personal_data(
        prod_stack: ProdStack) -> None:
    sender = "prod-booking"
    steps = ["我想预约办护照", "天河", "下周三", "上午十点", "陈小红", PHONE]
    for k, text in enumerate(steps):
        last = say(rasa_url(prod_stack, k % 2), sender, text)  # every turn on the other server
    assert "验证码" in texts(last), texts(last)  # the web chat proves the phone by an SMS code
    sent = [json.loads(line) for line in (prod_stack.root / "dev_sms.jsonl").read_text(encoding="utf-8").splitlines()]
    code = re.search(r"\d{6}", [m for m in sent if m["to"].endswith(PHONE[-11:])][-1]["text"]).group(0)
    last = say(rasa_url(prod_stack, 1), sender, code)
    assert "139****5678" in texts(last), texts(last)
    done = texts(say(rasa_url(prod_stack, 0), sender, "确认"))
    assert "YY" in done, done  # booked with the real number, unsealed from the shared store

    rows = pg_rows(prod_stack, sender)
    stored = json.dumps(rows, ensure_ascii=False)
    assert PHONE not in stored and "139****5678" in stored
    assert any(r.get("sealed_value") for r in rows if r["event"] == "slot" and r["name"] == "phone")

    from knowledge.db import make_engine

    engine = make_engine(prod_stack.db_url("knowledge"))
    try:  # booked for next Wednesday with the real number
        with engine.connect() as conn:
            phones = [r[0] for r in conn.execute(sqlalchemy.text("SELECT phone FROM bookings WHERE status = 'active'"))]
    finally:
        engine.dispose()
    assert any(PHONE in (p or "") for p in phones)


def test_killed_action_servers_give_the_apology_and_the_conversation_resumes_after_restart(
        prod_stack: ProdStack) -> None:
    sender = "prod-actions-down"
    say(prod_stack.core_url, sender, "我想预约办护照")
    say(prod_stack.core_url, sender, "天河")
    for i in range(2):
        prod_stack.services[f"actions-{i + 1}"].kill()
    try:
        reply = texts(say(prod_stack.core_url, sender, "办护照要带什么材料"))
        assert APOLOGY in reply, reply
    finally:
        for i in range(2):
            prod_stack.start_actions(i)
    reply = texts(say(prod_stack.core_url, sender, "下周三"))
    assert APOLOGY not in reply
    events = tracker_events(prod_stack, sender)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots.get("service") and slots.get("center") and slots.get("booking_date"), slots
    assert [e for e in events if e["event"] == "active_loop"][-1]["name"] == "booking_form"


def test_a_killed_rasa_server_is_routed_around_and_no_message_is_lost(prod_stack: ProdStack) -> None:
    sender = "prod-rasa-down"
    say(prod_stack.core_url, sender, "你好")
    prod_stack.services["rasa-1"].kill()
    try:
        for i in range(6):
            assert say(prod_stack.core_url, sender, f"你好 {i}")
    finally:
        prod_stack.start_rasa(0)
    users = [e["text"] for e in tracker_events(prod_stack, sender) if e["event"] == "user"]
    assert users == ["你好"] + [f"你好 {i}" for i in range(6)]


def test_oversized_bodies_get_413_at_every_public_listener(prod_stack: ProdStack) -> None:
    big = "x" * (2 * 1024 * 1024)
    for url in (f"{prod_stack.public_url}/chat/api/message", f"{prod_stack.public_url}/api/v1/knowledge/search",
                f"{prod_stack.core_url}/webhooks/webchat/webhook"):
        res = requests.post(url, data=big, headers={"Content-Type": "application/json"}, timeout=30)
        assert res.status_code == 413, url
        assert res.json()["error"] == "too_large"


def test_a_full_restart_keeps_bookings_cases_opt_outs_knowledge_and_conversations(prod_stack: ProdStack) -> None:
    from casework.repository import CaseworkRepository
    from channels.state import ChannelState
    from knowledge.db import make_engine, session_factory

    sender = "prod-restart"
    say(prod_stack.core_url, sender, "我想预约办护照")
    say(prod_stack.core_url, sender, "天河")
    before = tracker_events(prod_stack, sender)
    engine = make_engine(prod_stack.db_url("knowledge"))
    try:
        case = CaseworkRepository(session_factory(engine)).create_case(
            description="路灯不亮", location="天河路", contact_phone="+8613900005678", channel="sms",
            sender_hash="hash-restart")
        case_no = case.number
    finally:
        engine.dispose()
    state = ChannelState(prod_stack.db_url("channels"))
    state.set_opt_out("sms", "hash-restart", True)
    state.dispose()

    prod_stack.stop()
    prod_stack.services.clear()
    prod_stack.start()

    assert tracker_events(prod_stack, sender)[: len(before)] == before
    reply = texts(say(prod_stack.core_url, sender, "下周三"))  # the form continues where it was
    assert "几点" in reply or "时间" in reply, reply
    engine = make_engine(prod_stack.db_url("knowledge"))
    try:
        repo = CaseworkRepository(session_factory(engine))
        assert repo.get_case(case_no) is not None
        with engine.connect() as conn:  # the booking test's booking (next Wednesday) survived the restart
            assert conn.execute(sqlalchemy.text("SELECT COUNT(*) FROM bookings")).scalar_one() >= 1
    finally:
        engine.dispose()
    state = ChannelState(prod_stack.db_url("channels"))
    assert state.is_opted_out("sms", "hash-restart")
    state.dispose()
    res = requests.get(f"{prod_stack.public_url}/api/v1/knowledge/search", params={"q": "办护照要带什么"}, timeout=30)
    assert res.status_code == 200 and res.json()["hits"]
