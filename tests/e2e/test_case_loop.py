"""The whole after-service loop (issue 12) through real components: a complaint by SMS, a letter.

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

The same for a mayor's-mailbox letter: the mailbox worker reads it from a real Dovecot and
the core opens the case; the department's answer leaves through the outbox worker by real SMTP
(aiosmtpd) in the letter's thread; the citizen's next letters look the case up and rate it.

Only Twilio (a SaaS) is simulated, speaking its wire format on both sides.
"""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.mailkit are used as arguments

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.channels.mailkit import (  # noqa: F401 - fixtures
    SmtpServer,
    citizen_mail,
    deliver,
    dovecot,
    mail_env,
    smtp_server,
)
from tests.channels.twilio_helpers import BASE, TOKEN, post_signed, sms_form, texts_of, twiml
from tests.conftest import REPO
from tests.staff.conftest import PASSWORD

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

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
    from console.accounts import AccountError, AccountRepository
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
    for name, role, department in (("dispatcher", "dispatcher", ""), ("handler", "handler", DEPARTMENT)):
        with contextlib.suppress(AccountError):  # made for an earlier test (the live core's database is shared)
            accounts.create(f"{name}{SUFFIX}", PASSWORD, role, actor="test", department_id=department)
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


def start_outbox_worker(live_core: Any, tmp_path: Path, *, twilio: Any = None,
                        mail: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The real outbox worker process: this database, these stand-ins, no quiet hours."""
    from devtools.outbox_kit import start_worker, worker_env

    env = worker_env(db_url=live_core.db_url, channels_url=f"sqlite:///{tmp_path / 'worker_channels.db'}",
                     pii_key=pii_key(), config=Path(os.environ["OUTBOX_CONFIG"]), twilio=twilio, poll_s=0.2)
    env.update({k: v for k, v in (mail or {}).items() if k.startswith("MAIL_")})
    return start_worker(env, tmp_path / "worker.log")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def worker(live_core: Any, app: Any, twilio: Any, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The outbox worker sending SMS to the Twilio stand-in."""
    proc = start_outbox_worker(live_core, tmp_path, twilio=twilio)
    yield proc
    stop(proc)


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


def route(page: Any, base: str, number: str) -> None:
    """The dispatcher sends the case to the department, then signs out."""
    sign_in(page, base, f"dispatcher{SUFFIX}")
    page.goto(f"{base}/staff/cases/{number}")
    page.select_option("#department", DEPARTMENT)
    page.click("#assign-form button[type=submit]")
    page.wait_for_load_state()
    assert "已派单至城乡建设" in page.inner_text("main")
    page.click("header.top button:has-text('退出')")
    page.wait_for_url("**/staff/login")


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
    asked = texter.send(number)
    assert "后四位" in asked and number not in asked, asked  # nothing shown before the identity check
    return texter.send(texter.phone[-4:])


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
    route(page, base, number)

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


def test_a_letter_is_routed_answered_in_its_thread_looked_up_and_rated(
        app: Any, live_server: str, browser: Any, live_core: Any, dovecot: Any, smtp_server: SmtpServer,
        tmp_path: Path):
    from casework.cases import CaseDesk
    from channels.core import CoreClient, CoreSettings
    from channels.mail.verify import MailSettings
    from channels.mail.worker import MailWorker
    from channels.state import ChannelState
    from knowledge.db import get_engine, session_factory

    desk = CaseDesk(session_factory(get_engine(live_core.db_url)))
    env = mail_env(dovecot, smtp_server, live_core.rasa_url, f"sqlite:///{tmp_path / 'mail.db'}")
    state = ChannelState(env["CHANNELS_DB_URL"])
    mailbox = MailWorker(MailSettings.from_env(env), core=CoreClient(CoreSettings.from_env(env)), state=state)
    writer, phone = f"zhao{SUFFIX}@example.cn", "1390000" + f"{secrets.randbelow(10**4):04d}"

    def letter(body: str, message_id: str, subject: str = "来信") -> str:
        """Deliver a letter, let the mailbox worker answer it; the answer's text."""
        before = len(smtp_server.recorder.messages)
        deliver(dovecot, citizen_mail(body, subject=subject, sender=writer, message_id=message_id))
        client = mailbox.connect()
        try:
            mailbox.process_pending(client)
        finally:
            client.logout()
        answer = smtp_server.recorder.wait_for(before + 1)[before]
        part = answer.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    # 1. the letter becomes a case; the first answer carries its number
    first_id = f"<letter-{SUFFIX}@example.cn>"
    reply = letter("我们小区北门外的人行道砖块松动塌陷了一大片，老人已经摔倒过两次，请尽快派人修一下。\n"
                   f"地址：天河区体育西路某某小区北门\n联系电话：{phone}", first_id, subject="人行道塌陷")
    number = re.search(r"TS\d{10,14}", reply)
    assert number, reply
    case = desk.get(number.group(0))
    assert case is not None and case.channel == "mail" and case.reply_thread == first_id

    # 2. routed and answered in the console
    base = live_server
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    route(page, base, case.number)
    sign_in(page, base, f"handler{SUFFIX}")
    handler_replies(page, base, case.number, FIRST_ANSWER)

    # 3. the answer leaves through the outbox by SMTP, in the letter's thread
    sent_before = len(smtp_server.recorder.messages)
    proc = start_outbox_worker(live_core, tmp_path, mail=env)
    try:
        notice = smtp_server.recorder.wait_for(sent_before + 1, timeout=60)[sent_before]
    finally:
        stop(proc)
    assert notice["In-Reply-To"] == first_id and first_id in notice["References"]
    assert writer in notice["To"] and case.number in notice["Subject"]
    body = notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert FIRST_ANSWER in body and "城乡建设" in body

    # 4. the writer looks the case up by letter, proves the phone, reads the answer and rates it
    asked = letter(case.number, f"<lookup-{SUFFIX}@example.cn>")
    assert "后四位" in asked and FIRST_ANSWER[:6] not in asked, asked
    shown = letter(phone[-4:], f"<last4-{SUFFIX}@example.cn>")
    assert FIRST_ANSWER.rstrip("。") in shown and "满意" in shown, shown
    letter("满意", f"<rate-{SUFFIX}@example.cn>")
    assert desk.get(case.number).status == "closed"
    state.dispose()
