"""Real browser (Debian's chromium via Playwright): editor writes, reviewer approves, the bot serves it.

Screenshots of the main pages go to ``tests/artifacts/`` (git-ignored). Skipped with the
reason when chromium or the playwright package is missing. When the Rasa venv is there,
the app server shares the live core's database and the last step asks the bot in the
web chat page; the search API is checked in any case.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.staff.conftest import DEPARTMENTS, PASSWORD, USERS

ARTIFACTS = REPO / "tests" / "artifacts"
QUESTION = "护照可以让家人代领吗"
ANSWER = "可以。家属凭受理回执、申请人和代领人的身份证原件即可代为领取；选择邮寄的会直接寄到家。"

pytestmark = pytest.mark.slow


@pytest.fixture
def core(request: pytest.FixtureRequest) -> object | None:
    """The live Rasa core when the Rasa venv is there, else None (the web-chat step is skipped)."""
    from devtools.live import rasa_available

    return None if rasa_available() else request.getfixturevalue("live_core")


@pytest.fixture
def live_server(seeded_url: str, tmp_path: Path, core: object | None,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app server on a free loopback port, in a thread: on the live core's database when
    there is one (so the action server sees what staff publish), else on a private seeded one."""
    from waitress import create_server

    from console.accounts import AccountRepository
    from knowledge.db import get_engine, session_factory
    from server import create_app

    db_url = seeded_url
    if core is not None:
        db_url = core.db_url  # type: ignore[attr-defined]
        monkeypatch.setenv("RASA_URL", core.rasa_url)  # type: ignore[attr-defined]
    app = create_app({"KNOWLEDGE_DB_URL": db_url, "SECRET_KEY": secrets.token_hex(32),
                      "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker.db'}"})
    accounts = AccountRepository(session_factory(get_engine(db_url)))
    for name, role in USERS.items():
        accounts.create(f"{name}{SUFFIX}", PASSWORD, role, actor="test", department_id=DEPARTMENTS.get(name, ""))
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"staff_{name}.png"), full_page=True)


SUFFIX = secrets.token_hex(3)  # accounts are unique even on the session-wide live-core database


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("#username", f"{username}{SUFFIX}")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/staff/dashboard")


def sign_out(page) -> None:
    page.click("header.top button:has-text('退出')")
    page.wait_for_url("**/staff/login")


def test_editor_writes_reviewer_approves_and_the_answer_is_served(live_server, browser, core):
    base = live_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/staff/faqs")
    assert "/staff/login" in page.url  # anonymous: sent to the login page
    shot(page, "login")

    sign_in(page, base, "editor")
    shot(page, "dashboard")
    page.goto(f"{base}/staff/faqs/new")
    page.fill("#question", QUESTION)
    page.fill("#alternatives", "护照可唔可以叫屋企人帮手拎\n护照委托别人领取")
    page.fill("#answer", ANSWER)
    page.fill("#sms_text", "可以委托他人凭委托书和双方身份证代领护照。")
    page.fill("#spoken_text", "可以委托别人代领，带上委托书和双方身份证。")
    page.select_option("#service_id", "passport")
    page.select_option("#topic", "other")
    page.click("#save")
    page.wait_for_url("**/staff/faqs/*")
    faq_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert "草稿" in page.inner_text("h1")
    page.click("button:has-text('提交审核')")
    page.wait_for_load_state()
    assert "待审核" in page.inner_text("h1")
    shot(page, "faq_submitted")
    page.goto(f"{base}/staff/faqs")
    shot(page, "faqs")
    sign_out(page)

    sign_in(page, base, "reviewer")
    page.goto(f"{base}/staff/review")
    assert QUESTION in page.inner_text("main")
    shot(page, "review_queue")
    page.click(f"a:has-text('{QUESTION}')")
    page.click("#approve")
    page.wait_for_load_state()
    assert "已发布" in page.inner_text("h1")
    shot(page, "faq_published")
    page.goto(f"{base}/staff/faqs/{faq_id}/preview")
    shot(page, "preview")
    for name in ("services", "unanswered", "expiring", "bookings", "applications", "transfer"):
        page.goto(f"{base}/staff/{name}")
        shot(page, name)
    sign_out(page)

    sign_in(page, base, "admin")
    page.goto(f"{base}/staff/audit")
    assert "approve" in page.inner_text("main")
    shot(page, "audit")

    res = page.request.get(f"{base}/api/v1/knowledge/search", params={"q": "护照委托别人领取", "k": "3"})
    hits = json.loads(res.text())["hits"]
    assert hits and hits[0]["faq_id"] == faq_id and hits[0]["title"] == QUESTION

    if core is None:
        return  # no Rasa venv here: the search the action server uses has been checked above
    page.goto(f"{base}/chat/")
    page.fill("#input", QUESTION)
    page.click("#send")
    page.wait_for_selector(f".row.bot .bubble:has-text('{ANSWER[:12]}')", timeout=60_000)
    shot(page, "webchat_answer")
