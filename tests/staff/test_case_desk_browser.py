"""Real browser (Debian's chromium via Playwright): a dispatcher routes a case, a handler replies.

The reply goes to the case desk's ``notify`` hook (the composition root wires the outbox
there); here the hook records it. Screenshots at 1280×800 and 390×844 go to
``tests/artifacts/``; at 1280×800 no case desk page scrolls sideways.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.staff.conftest import DEPARTMENTS, PASSWORD
from tests.staff.test_browser import ARTIFACTS

pytestmark = pytest.mark.slow
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# A long unbroken run (a pasted link, a number string) is what used to push tables sideways.
LONG_TEXT = ("小区北门外的路灯从上个月起一直不亮，晚上老人和孩子出入很不安全，已经有人摔倒。"
             "相关照片链接：https://example.org/" + "x" * 160)


@pytest.fixture
def desk_server(seeded_url: str, tmp_path: Path) -> Iterator[tuple[str, Any, list[tuple[str, str]]]]:
    """The app server on a free loopback port with a case desk whose replies are recorded."""
    from waitress import create_server

    from casework.cases import CaseDesk
    from console.accounts import AccountRepository
    from knowledge.db import get_engine, session_factory
    from server import create_app

    app = create_app({"KNOWLEDGE_DB_URL": seeded_url, "SECRET_KEY": secrets.token_hex(32),
                      "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker.db'}"})
    factory = session_factory(get_engine(seeded_url))
    sent: list[tuple[str, str]] = []
    desk = CaseDesk(factory, notify=lambda case, text: sent.append((case.number, text)))
    app.extensions["case_desk"] = desk
    accounts = AccountRepository(factory)
    for name, role in (("dispatcher", "dispatcher"), ("handler", "handler")):
        accounts.create(name, PASSWORD, role, actor="test", department_id=DEPARTMENTS.get(name, ""))
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}", desk, sent
    server.close()
    thread.join(timeout=5)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"cases_{name}.png"), full_page=True)


def sideways(page: Any) -> int:
    """How many pixels the page is wider than the window (0 = no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/staff/dashboard")


def both_sizes(page: Any, name: str) -> None:
    """Screenshots at desktop and phone size; the desktop one must not scroll sideways."""
    page.set_viewport_size(DESKTOP)
    assert sideways(page) == 0, name
    shot(page, f"{name}_1280")
    page.set_viewport_size(PHONE)
    shot(page, f"{name}_390")
    page.set_viewport_size(DESKTOP)


def test_dispatcher_routes_and_handler_replies(desk_server, browser):
    base, desk, sent = desk_server
    case = desk.open_case(description=LONG_TEXT, location="天河区某街道", kind="complaint", channel="sms",
                          sender_hash="h", contact_phone="+8613900001234", reply_to="+8613900001234",
                          suggested_department="urban_construction", suggested_confidence=0.82)
    other = desk.open_case(description="河道有人倾倒垃圾", kind="report", channel="webchat")
    page = browser.new_page(viewport=DESKTOP)

    sign_in(page, base, "dispatcher")
    page.goto(f"{base}/staff/cases")
    assert case.number in page.inner_text("main") and other.number in page.inner_text("main")
    both_sizes(page, "queue_dispatcher")
    page.click(f"a:has-text('{case.number}')")
    assert "置信度 82%" in page.inner_text("#case-routing")
    both_sizes(page, "case_received")
    page.select_option("#department", "urban_construction")
    page.fill("#note", "路灯维护")
    page.click("#assign-form button[type=submit]")
    page.wait_for_load_state()
    assert "已派单至城乡建设" in page.inner_text("main")
    assert desk.get(case.number).department_id == "urban_construction"
    page.click("header.top button:has-text('退出')")
    page.wait_for_url("**/staff/login")

    sign_in(page, base, "handler")
    page.goto(f"{base}/staff/cases")
    main = page.inner_text("main")
    assert case.number in main and other.number not in main  # only their department's cases
    both_sizes(page, "queue_handler")
    page.click(f"a:has-text('{case.number}')")
    page.click("#start")
    page.wait_for_load_state()
    page.fill("#text", "您反映的路灯问题已安排维修，已于今日修复，感谢监督。")
    page.click("#send-reply")
    page.wait_for_load_state()
    assert "已答复" in page.inner_text("h1")
    assert sent == [(case.number, "您反映的路灯问题已安排维修，已于今日修复，感谢监督。")]
    both_sizes(page, "case_replied")
    page.goto(f"{base}/staff/dashboard")
    assert "按期答复率" in page.inner_text("main")
    both_sizes(page, "dashboard")
