"""The whole after-service loop (issue 12) through real components, for a complaint by SMS.

* the citizen texts a complaint: signed Twilio webhooks into the app server, the real Rasa core
  and action server (the ``live_core`` fixture) open a case and text back its TS number;
* Chromium (Playwright): a dispatcher routes the case in the staff console, a handler of that
  department starts it and replies;
* the reply leaves through the outbox: the real worker process (``python -m server.outbox_worker``)
  sends it with the Twilio client to the local stand-in of the Messages endpoint
  (``devtools/fake_twilio_rest.py``);
* the citizen texts the TS number back, passes the identity check (last four digits of the
  phone) and reads the department's answer, then rates it: 不满意 reopens the case once; the
  handler answers again, the second answer arrives the same way, and a second 不满意 closes it.

Only Twilio (a SaaS) is simulated, speaking its wire format on both sides.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.channels.twilio_helpers import BASE, TOKEN, post_signed, sms_form, texts_of, twiml
from tests.conftest import REPO
from tests.staff.conftest import PASSWORD

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
SUFFIX = secrets.token_hex(3)
DEPARTMENT = "urban_construction"
COMPLAINT = "我要投诉，我们小区门口的路灯坏了一个多月都没人修，晚上出门很危险"
FIRST_ANSWER = "您反映的路灯问题已转供电所核实，计划本周内更换灯具。"
SECOND_ANSWER = "经复查，路灯已于今日更换并恢复照明，感谢您的监督。"


class Texter:
    """One citizen texting the city's number (signed webhooks, as Twilio posts them)."""

    def __init__(self, client: Any, phone: str):
        self.client, self.phone = client, phone

    def send(self, body: str) -> str:
        sid = "SM" + secrets.token_hex(16)
        doc = twiml(post_signed(self.client, "/channels/sms/webhook", sms_form(body, sid=sid, sender=self.phone)))
        return "\n".join(texts_of(doc, "/Response/Message"))


def pii_key() -> str:
    """The deployment's contact key: every service here runs from the repository (one key file)."""
    from common.sealing import DEFAULT_KEY_FILE, load_key_file

    return os.environ.get("TRACKER_PII_KEY", "").strip() or load_key_file(REPO / DEFAULT_KEY_FILE)


@pytest.fixture
def twilio() -> Iterator[Any]:
    from devtools.fake_twilio_rest import serve

    with serve() as api:
        yield api


@pytest.fixture
def app(live_core: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app server (SMS webhook, staff console) in front of the live core, on its database."""
    from channels.state import ChannelState
    from console.accounts import AccountRepository
    from devtools.outbox_kit import write_config
    from knowledge.db import get_engine, session_factory
    from server import create_app
    from tests.channels.twilio_helpers import FakeSender

    env = {"RASA_URL": live_core.rasa_url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": BASE,
           "SMS_CORE_TIMEOUT": "12", "CHAT_TIMEOUT": "30", "TRACKER_PII_KEY": pii_key(),
           "OUTBOX_CONFIG": str(write_config(tmp_path / "outbox.yml", lease_s=30, send_timeout_s=10))}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("RELAY_TOKEN", "SMS_MAX_PARTS"):
        monkeypatch.delenv(key, raising=False)
    state = ChannelState(f"sqlite:///{tmp_path / 'channels.db'}")
    application = create_app({"KNOWLEDGE_DB_URL": live_core.db_url, "SECRET_KEY": secrets.token_hex(32),
                              "CHANNEL_STATE": state, "SMS_SENDER": FakeSender(),  # chat replies ride the TwiML
                              "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker.db'}"})
    accounts = AccountRepository(session_factory(get_engine(live_core.db_url)))
    accounts.create(f"dispatcher{SUFFIX}", PASSWORD, "dispatcher", actor="test")
    accounts.create(f"handler{SUFFIX}", PASSWORD, "handler", actor="test", department_id=DEPARTMENT)
    yield application
    state.dispose()


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=6)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


@pytest.fixture
def worker(live_core: Any, app: Any, twilio: Any, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The real outbox worker process: this database, the Twilio stand-in, no quiet hours."""
    from devtools.outbox_kit import start_worker, worker_env

    env = worker_env(db_url=live_core.db_url, channels_url=f"sqlite:///{tmp_path / 'worker_channels.db'}",
                     pii_key=pii_key(), config=Path(os.environ["OUTBOX_CONFIG"]), twilio=twilio, poll_s=0.2)
    proc = start_worker(env, tmp_path / "worker.log")
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        yield b
        b.close()


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/staff/dashboard")


def complain(texter: Texter) -> str:
    """Text a complaint and answer the form's questions until the case number comes back."""
    reply, steps = texter.send(COMPLAINT), []
    answers = {"地点": "天河区体育西路12号小区北门", "哪里": "天河区体育西路12号小区北门", "位置": "天河区体育西路12号小区北门",
               "电话": texter.phone[3:], "手机": texter.phone[3:]}
    for _ in range(6):
        steps.append(reply)
        if re.search(r"TS\d{10,14}", reply):
            break
        key = next((k for k in answers if k in reply), None)
        assert key, f"unexpected question: {reply!r}\nso far: {steps}"
        reply = texter.send(answers[key])
    number = re.search(r"TS\d{10,14}", reply)
    assert number, steps
    return number.group(0)


def handler_replies(page: Any, base: str, number: str, text: str) -> None:
    page.goto(f"{base}/staff/cases")
    page.click(f"a:has-text('{number}')")
    if page.locator("#start").count():
        page.click("#start")
        page.wait_for_load_state()
    page.fill("#text", text)
    page.click("#send-reply")
    page.wait_for_load_state()
    assert "已答复" in page.inner_text("h1")


def sms_to(twilio: Any, phone: str, count: int, worker: subprocess.Popen[bytes], timeout: float = 60) -> list[str]:
    """Wait until ``count`` messages reached ``phone`` through the stand-in; their bodies."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bodies = twilio.bodies_to(phone)
        if len(bodies) >= count:
            return bodies
        assert worker.poll() is None, "the outbox worker exited"
        time.sleep(0.2)
    raise AssertionError(f"{len(twilio.bodies_to(phone))} of {count} messages reached {phone}")


def look_up(texter: Texter, number: str) -> str:
    """Text the case number, pass the identity check; what the bot shows."""
    reply = texter.send(number)
    if "后四位" in reply or "尾号" in reply:
        reply = texter.send(texter.phone[-4:])
    return reply


def test_an_sms_complaint_is_routed_answered_delivered_looked_up_and_rated(
        app: Any, live_server: str, worker: Any, twilio: Any, browser: Any, live_core: Any):
    from casework.cases import CaseDesk
    from knowledge.db import get_engine, session_factory

    desk = CaseDesk(session_factory(get_engine(live_core.db_url)))
    phone = "+86139" + f"{secrets.randbelow(10**8):08d}"
    citizen = Texter(app.test_client(), phone)

    # 1. the complaint by SMS becomes a case with a TS number
    number = complain(citizen)
    case = desk.get(number)
    assert case is not None and case.channel == "sms" and case.phone_last4 == phone[-4:]
    assert "路灯" in case.description and case.department_id in ("", None)

    # 2. a dispatcher routes it in the console
    base = live_server
    staff = browser.new_context(viewport={"width": 1280, "height": 800})
    page = staff.new_page()
    sign_in(page, base, f"dispatcher{SUFFIX}")
    page.goto(f"{base}/staff/cases/{number}")
    page.select_option("#department", DEPARTMENT)
    page.click("#assign-form button[type=submit]")
    page.wait_for_load_state()
    assert "已派单至城乡建设" in page.inner_text("main")
    page.click("header.top button:has-text('退出')")
    page.wait_for_url("**/staff/login")

    # 3. a handler of that department answers in the browser
    sign_in(page, base, f"handler{SUFFIX}")
    handler_replies(page, base, number, FIRST_ANSWER)

    # 4. the answer leaves through the outbox to the Twilio stand-in
    first = sms_to(twilio, phone, 1, worker)[0]
    assert number in first, first
    assert twilio.messages[-1]["from"] == "+15005550006"

    # 5. the citizen texts the number, proves the phone, reads the answer and is not satisfied
    shown = look_up(citizen, number)
    assert "城乡建设" in shown and FIRST_ANSWER.rstrip("。") in shown and "满意" in shown, shown
    reopened = citizen.send("不满意")
    assert "重新" in reopened, reopened
    assert desk.get(number).status == "reopened"

    # 6. reopened once: the handler answers again, it arrives, a second 不满意 closes the case
    handler_replies(page, base, number, SECOND_ANSWER)
    second = sms_to(twilio, phone, 2, worker)[1]
    assert number in second, second
    shown = look_up(citizen, number)
    assert SECOND_ANSWER.rstrip("。") in shown, shown
    citizen.send("不满意")
    assert desk.get(number).status == "closed"
    assert len(twilio.bodies_to(phone)) == 2  # nothing sent twice
    staff.close()
