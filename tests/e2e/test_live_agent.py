"""转人工 end to end: the real core (SQL tracker store), the app server, the agent console.

* the bot stays silent while an agent owns the conversation, even across a Rasa restart;
* signed SMS webhooks and the fake Telegram Bot API: citizen and agent exchange messages
  both ways, the agent ends, the bot asks for a rating and answers the next question;
* Chromium: a citizen in the web chat page and an agent in another browser context
  (screenshots of the agent console at 1280×800 and 768 wide in ``tests/artifacts/``).

The desk is open around the clock here (a desk file of the tests'); its hours are
tested in ``tests/casework/test_handoff.py``.
"""

from __future__ import annotations

import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.live import LiveCore, ci_model, load_sample_applications, rasa_available, start_live_core
from tests.channels.twilio_helpers import BASE, TOKEN, FakeSender, post_signed, sms_form, texts_of, twiml
from tests.conftest import REPO
from tests.staff.conftest import PASSWORD

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

ARTIFACTS = REPO / "tests" / "artifacts"
DESK = 'hours: "00:00-24:00"\ndays: all\nmax_wait_s: 600\nhandle_s: 120\n'
QUESTION = "办护照要带什么材料"
SUFFIX = secrets.token_hex(3)
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture(scope="module")
def desk_core(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCore]:
    """Rasa + actions with a persistent (SQL) tracker store and an always-open agent desk."""
    reason = rasa_available()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("live_agent")
    shutil.copy(seeded_template, workdir / "kb.db")
    db_url = f"sqlite:///{workdir / 'kb.db'}"
    load_sample_applications(db_url)
    (workdir / "desk.yml").write_text(DESK, encoding="utf-8")
    store = {"type": "bot.tracker_store.MaskingSQLTrackerStore", "dialect": "sqlite",
             "db": str(workdir / "tracker.db"), "pii_key_file": str(workdir / "tracker_pii.key")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENT_DESK_FILE", str(workdir / "desk.yml"))
        core = start_live_core(workdir, db_url, ci_model(), log_level="WARNING", tracker_store=store)
    from console.accounts import AccountRepository
    from knowledge.db import get_engine, session_factory

    accounts = AccountRepository(session_factory(get_engine(db_url)))
    for name in ("agent1", "agent2"):
        accounts.create(f"{name}{SUFFIX}", PASSWORD, "agent", actor="test")
    yield core
    core.stop()


@pytest.fixture
def fake_telegram() -> Iterator[Any]:
    from devtools.fake_telegram import serve

    with serve() as api:
        yield api


@pytest.fixture
def app(desk_core: LiveCore, fake_telegram: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app server (SMS, Telegram webhook, web chat, console) in front of the core."""
    from channels.state import ChannelState
    from server import create_app

    env = {"RASA_URL": desk_core.rasa_url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": BASE,
           "AGENT_DESK_FILE": str(desk_core.workdir / "desk.yml"), "TELEGRAM_BOT_TOKEN": fake_telegram.token,
           "TELEGRAM_API_BASE_URL": fake_telegram.url, "TELEGRAM_MODE": "webhook",
           "TELEGRAM_WEBHOOK_SECRET": "s3cret-Token_1", "CHAT_TIMEOUT": "30", "SMS_CORE_TIMEOUT": "12", "CORE_TIMEOUT": "30",
           "RASA_API_TOKEN": desk_core.api_token}  # the desk resumes paused conversations through the API
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("RELAY_TOKEN", "SMS_MAX_PARTS"):
        monkeypatch.delenv(key, raising=False)
    state = ChannelState(f"sqlite:///{tmp_path / 'channels.db'}")
    sender = FakeSender()
    application = create_app({"KNOWLEDGE_DB_URL": desk_core.db_url, "SECRET_KEY": secrets.token_hex(32),
                              "CHANNEL_STATE": state, "SMS_SENDER": sender,
                              "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker.db'}"})
    application.config["sms_fake"] = sender
    yield application
    application.extensions["telegram_runtime"].shutdown()
    state.dispose()


class Agent:
    """An agent in the console (test client, real login and CSRF)."""

    def __init__(self, app: Any, name: str):
        self.client = app.test_client()
        self.client.environ_base["wsgi.url_scheme"] = "https"
        page = self.client.get("/staff/login").get_data(as_text=True)
        res = self.client.post("/staff/login", data={"username": f"{name}{SUFFIX}", "password": PASSWORD,
                                                     "csrf_token": CSRF_RE.search(page).group(1)})  # type: ignore[union-attr]
        assert res.status_code == 302

    def csrf(self) -> str:
        page = self.client.get("/staff/account").get_data(as_text=True)
        return CSRF_RE.search(page).group(1)  # type: ignore[union-attr]

    def queue(self) -> list[dict[str, Any]]:
        return self.client.get("/staff/agents/queue.json").get_json()["rows"]

    def post(self, path: str, **data: str) -> Any:
        return self.client.post(path, data={**data, "csrf_token": self.csrf()})

    def transcript(self, sid: int) -> list[tuple[str, str]]:
        data = self.client.get(f"/staff/agents/{sid}/messages.json").get_json()
        return [(m["author"], m["text"]) for m in data["messages"]]


def session_of(agent: Agent, conversation_hint: str) -> int:
    rows = [r for r in agent.queue() if r["state"] == "waiting" and r["channel"] == conversation_hint]
    assert rows, agent.queue()
    return int(rows[-1]["id"])


def paused(core: LiveCore, sender: str) -> bool:
    tracker = core.api(f"/conversations/{sender}/tracker", timeout=30).json()
    state = None
    for e in tracker["events"]:
        if e["event"] in ("pause", "resume"):
            state = e["event"]
    return state == "pause"


def test_the_bot_stays_silent_while_paused_even_across_a_rasa_restart(desk_core: LiveCore):
    sender = f"webchat-pause-{SUFFIX}"
    offer = desk_core.say(sender, "转人工")
    assert any((m.get("custom") or {}).get("live_agent") == "offered" for m in offer), offer
    queued = desk_core.say(sender, "/accept_live_agent")
    assert any((m.get("custom") or {}).get("live_agent") == "queued" for m in queued), queued
    assert desk_core.say(sender, QUESTION) == []
    assert paused(desk_core, sender)

    desk_core.processes["rasa"].stop()
    desk_core.start_rasa()
    assert desk_core.say(sender, QUESTION) == []  # still paused: the pause is in the stored tracker
    assert desk_core.say(sender, "你好") == []

    from channels.core import CoreSettings
    from server.live_agent import CoreApi

    resumed = CoreApi(CoreSettings.from_env({"RASA_URL": desk_core.rasa_url}), token=desk_core.api_token).resume(sender, "live_agent_ended")
    assert any(m.get("buttons") for m in resumed), resumed  # the rating question
    assert not paused(desk_core, sender)
    answer = desk_core.say(sender, QUESTION)
    assert any("护照" in (m.get("text") or "") for m in answer), answer


def sms(client: Any, phone: str, body: str) -> str:
    sid = "SM" + secrets.token_hex(16)
    doc = twiml(post_signed(client, "/channels/sms/webhook", sms_form(body, sid=sid, sender=phone)))
    return "\n".join(texts_of(doc, "/Response/Message"))


def test_sms_citizen_and_agent_talk_both_ways_then_the_bot_is_back(app: Any, desk_core: LiveCore):
    citizen, phone = app.test_client(), "+86139" + f"{secrets.randbelow(10**8):08d}"
    sender: FakeSender = app.config["sms_fake"]
    offer = sms(citizen, phone, "转人工")
    assert "1" in offer and "人工" in offer
    queued = sms(citizen, phone, "1")  # the numbered option: 接通人工
    assert "排队" in queued and re.search(r"第\d+位，约\d+分钟", queued), queued  # place and expected wait

    agent = Agent(app, "agent1")
    sid = session_of(agent, "短信")
    assert agent.post(f"/staff/agents/{sid}/take").status_code == 302
    assert sender.sent[-1][0] == phone and "人工坐席已接入" in sender.sent[-1][1]  # told once, by SMS

    assert sms(citizen, phone, "我的护照办好了吗") == ""  # nothing from the bot: the agent has it
    assert ("citizen", "我的护照办好了吗") in agent.transcript(sid)
    agent.post(f"/staff/agents/{sid}/reply", text="您好，您的护照已制证完成，可以领取。")
    assert sender.sent[-1] == (phone, "您好，您的护照已制证完成，可以领取。")

    agent.post(f"/staff/agents/{sid}/end")
    assert "人工服务已结束" in sender.sent[-1][1] and "5" in sender.sent[-1][1]  # numbered rating options
    assert "感谢" in sms(citizen, phone, "5")  # the rating reached the bot through the remembered options
    answer = sms(citizen, phone, QUESTION)
    assert "身份证" in answer, answer  # the passport guide again


def test_telegram_citizen_and_agent_talk_both_ways(app: Any, desk_core: LiveCore, fake_telegram: Any):
    client, chat = app.test_client(), 7_100_000 + secrets.randbelow(10**5)

    def say(text: str) -> None:
        res = client.post("/channels/telegram/webhook", headers={HEADER: "s3cret-Token_1"},
                          json=fake_telegram.text_update(chat, text))
        assert res.status_code == 200

    say("转人工")
    offer = fake_telegram.messages_to(chat)[-1]
    accept = next(b for row in offer["reply_markup"]["inline_keyboard"] for b in row if "接通" in b["text"])
    fake_telegram.push_callback(chat, accept["callback_data"])  # the button press, as Telegram sends it
    with fake_telegram.lock:
        press = fake_telegram.updates.pop()
    res = client.post("/channels/telegram/webhook", headers={HEADER: "s3cret-Token_1"}, json=press)
    assert res.status_code == 200
    assert "排队" in fake_telegram.messages_to(chat)[-1]["text"]

    agent = Agent(app, "agent2")
    sid = session_of(agent, "Telegram")
    agent.post(f"/staff/agents/{sid}/take")
    assert "人工坐席已接入" in fake_telegram.messages_to(chat)[-1]["text"]
    count = len(fake_telegram.messages_to(chat))
    say("社保卡丢了怎么办")
    assert len(fake_telegram.messages_to(chat)) == count  # silent: it went to the agent
    assert ("citizen", "社保卡丢了怎么办") in agent.transcript(sid)
    agent.post(f"/staff/agents/{sid}/reply", text="请先拨打社保卡服务热线挂失。")
    assert fake_telegram.messages_to(chat)[-1]["text"] == "请先拨打社保卡服务热线挂失。"
    agent.post(f"/staff/agents/{sid}/end")
    assert "人工坐席已结束" in "".join(m["text"] for m in fake_telegram.messages_to(chat)[-2:])
    count = len(fake_telegram.messages_to(chat))
    say(QUESTION)
    answer = [m["text"] for m in fake_telegram.messages_to(chat)[count:]]
    assert any("身份证" in text for text in answer), answer


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=6)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"agent_{name}.png"), full_page=False)


def test_webchat_citizen_and_agent_in_two_browsers(live_server: str, browser: Any):
    base = live_server
    citizen = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    citizen.goto(f"{base}/chat/")
    citizen.fill("#input", "我要转人工")
    citizen.press("#input", "Enter")
    citizen.click(".chip:has-text('接通人工')")
    citizen.wait_for_selector(".row.bot:has-text('排队')")

    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    agent.goto(f"{base}/staff/login")
    agent.fill("#username", f"agent1{SUFFIX}")
    agent.fill("#password", PASSWORD)
    agent.click("button[type=submit]")
    agent.goto(f"{base}/staff/agents/")
    agent.wait_for_selector("#agent-queue tr[data-id] button.take")
    shot(agent, "queue_1280")
    agent.click("#agent-queue tr[data-id]:last-child button.take")
    agent.wait_for_selector("#reply-form")
    citizen.wait_for_selector(".row.bot:has-text('人工坐席已接入')")

    citizen.fill("#input", "我想问一下护照加急要多久")
    citizen.press("#input", "Enter")
    agent.wait_for_selector("#transcript .line.citizen:has-text('护照加急')")
    agent.select_option("#canned", index=1)
    assert agent.input_value("#reply-text").startswith("您好")
    agent.fill("#reply-text", "加急一般5个工作日，需要提供加急证明。")
    agent.click("#send-reply")
    citizen.wait_for_selector(".row.bot:has-text('加急一般5个工作日')")
    agent.wait_for_selector("#transcript .line.agent:has-text('加急一般5个工作日')")
    shot(agent, "conversation_1280")
    agent.set_viewport_size({"width": 768, "height": 1000})
    shot(agent, "conversation_768")

    agent.click("#end")
    agent.wait_for_url("**/staff/agents/")
    citizen.wait_for_selector(".row.bot:has-text('人工坐席已结束')")
    citizen.wait_for_selector(".chip:has-text('非常满意')")
    shot(agent, "queue_768")
    citizen.fill("#input", QUESTION)
    citizen.press("#input", "Enter")
    citizen.wait_for_function(
        "() => Array.from(document.querySelectorAll('.row.bot')).slice(-3).some(r => r.textContent.includes('身份证'))"
        " && !document.querySelector('.row.typing')")
    citizen.screenshot(path=str(ARTIFACTS / "agent_citizen_webchat.png"))


def test_nobody_takes_it_in_time_so_the_citizen_leaves_a_message_for_the_case_desk(app: Any, desk_core: LiveCore):
    from dataclasses import replace

    from casework.repository import CaseworkRepository
    from knowledge.db import get_engine, session_factory

    desk = app.extensions["live_agent_desk"]
    desk.settings = replace(desk.settings, max_wait_s=1)
    client, sender = app.test_client(), f"timeout{SUFFIX}"

    def chat(text: str) -> list[dict[str, Any]]:
        res = client.post("/chat/api/message", json={"sender": sender, "message": text})
        assert res.status_code == 200
        return res.get_json()["messages"]

    chat("转人工")
    assert any("排队" in (m.get("text") or "") for m in chat("/accept_live_agent"))
    time.sleep(1.5)
    late = chat("还有人吗")
    assert any(b["payload"] == "/leave_message" for m in late for b in m.get("buttons") or []), late
    assert any((m.get("custom") or {}).get("live_agent") == "ended" for m in late)
    assert any("留下" in (m.get("text") or "") for m in chat("/leave_message"))
    asked = " ".join(m.get("text") or "" for m in chat("想咨询公租房申请需要满足什么条件"))
    assert "联系电话" in asked, asked  # web chat carries no phone: asked, optional
    saved = " ".join(m.get("text") or "" for m in chat("不留"))
    number = re.search(r"TS\d{10,14}", saved)
    assert number, saved
    case = CaseworkRepository(session_factory(get_engine(desk_core.db_url))).get_case(number.group(0))
    assert case is not None and case.kind == "inquiry" and "公租房" in case.description
    assert app.extensions["live_agent_desk"].repo.stats()["abandoned"] >= 1


def test_an_agent_console_poll_closes_an_overdue_wait_and_the_citizen_is_told(app: Any, desk_core: LiveCore):
    from dataclasses import replace

    desk = app.extensions["live_agent_desk"]
    desk.settings = replace(desk.settings, max_wait_s=1)
    client, sender = app.test_client(), f"overdue{SUFFIX}"
    client.post("/chat/api/message", json={"sender": sender, "message": "转人工"})
    client.post("/chat/api/message", json={"sender": sender, "message": "/accept_live_agent"})
    time.sleep(1.5)
    agent = Agent(app, "agent2")
    assert all(r["state"] != "waiting" for r in agent.queue())  # the poll expired it
    told = client.post("/chat/api/poll", json={"sender": sender}).get_json()["messages"]
    assert any(b["payload"] == "/leave_message" for m in told for b in m.get("buttons") or []), told
    assert not paused(desk_core, f"webchat-{sender}")
    answer = client.post("/chat/api/message", json={"sender": sender, "message": QUESTION}).get_json()["messages"]
    assert any("身份证" in (m.get("text") or "") for m in answer), answer
