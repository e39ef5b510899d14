"""Every console page, as every role, fits a 1280×800 screen and a 768-px tablet (no horizontal
scrolling, no console errors), even when citizens' text carries long unbroken runs.

The pages come from the Flask ``url_map`` (every ``GET`` route under ``/staff`` without
arguments), plus one instance of every detail route, found by following the links of the
pages visited; so pages added later are covered without editing this test. Screenshots go to
``tests/artifacts/console/`` (git-ignored). Skipped with the reason when chromium or playwright
is missing.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO
from tests.staff.conftest import PASSWORD

ARTIFACTS = REPO / "tests" / "artifacts" / "console"
VIEWPORTS = ((1280, 800), (768, 1024))
PREFIX = "/staff"
# citizen text as it really arrives: a pasted link, a string of digits, a run without spaces
LONG_LINK = "https://www.gz.gov.cn/zwfw/" + "a1b2c3d4e5" * 30 + "?from=sms&id=" + "9" * 40
LONG_DIGITS = "我的回执号是" + "4401061990" * 20 + "请帮我查一下"
LONG_RUN = "护照" * 5 + "！" * 120 + "为什么还没有办好" + "？" * 80

pytestmark = pytest.mark.slow


def roles() -> list[str]:
    from console.models import Role

    return [r.value for r in Role]


@pytest.fixture
def console_server(seeded_url: str, tmp_path: Path) -> Iterator[tuple[str, Any, str]]:
    """The app server on a free loopback port with one account per role and citizens' long text."""
    from waitress import create_server

    from console.web.deps import accounts, casework_repo
    from server import create_app

    app = create_app({"KNOWLEDGE_DB_URL": seeded_url, "SECRET_KEY": secrets.token_hex(32),
                      "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker.db'}"})
    suffix = secrets.token_hex(3)
    with app.app_context():
        acc, cw = accounts(), casework_repo()
    for role in roles():
        acc.create(f"{role}{suffix}", PASSWORD, role, actor="test",
                   **({"department_id": "urban_construction"} if role == "handler" else {}))
    cw.load_sample_applications()
    from casework.repository import BookingRequest
    from common.clock import city_now

    today = city_now().date()  # the bookings page opens on today
    cw.book(BookingRequest(service_id="passport", center_id="tianhe_center", date=today, slot_start="10:00",
                           name="陈" + "示例" * 40, phone="+8613900001234", channel="sms"), capacity=5)
    for i, text in enumerate((LONG_LINK, LONG_DIGITS, LONG_RUN)):
        cw.record_unanswered(question=text, channel=("sms", "webchat", "voice")[i], sender_hash=f"h{i:06d}",
                             reason="no_answer", best_service_id="passport", best_confidence=0.2)
    from casework.handoff import HandoffRepository

    # a conversation with an agent (its page is linked from the agent's queue) and a case, each with a
    # long unbroken run of citizen text
    desk = HandoffRepository(cw.factory)
    live, _ = desk.enqueue(
        conversation_id="webchat-" + "ab" * 16, channel="webchat", sender_hash="h0000aa", reason="requested",
        summary={"intent": "ask_service_guide", "service": "passport", "slots": {},
                 "last_messages": [{"who": "citizen", "text": LONG_LINK}]})
    desk.add_message(live.id, "citizen", LONG_DIGITS)
    desk.take(live.id, f"agent{suffix}")
    cw.create_case(description=LONG_RUN + LONG_DIGITS, location="天河区" + LONG_LINK, contact_phone="+8613900001234",
                   channel="sms", sender_hash="h0000ab", kind="complaint")
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}", app, suffix
    server.close()
    thread.join(timeout=5)


def console_routes(app: Any) -> tuple[list[str], dict[str, Any]]:
    """(paths of the GET pages without arguments, the GET rules with arguments by endpoint)."""
    plain, detail = [], {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX) or "GET" not in (rule.methods or ()) or rule.endpoint.endswith("static"):
            continue
        if rule.arguments:
            detail[rule.endpoint] = rule
        else:
            plain.append(rule.rule)
    return sorted(plain), detail


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}{PREFIX}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, f"{username} could not sign in"


def check_page(page: Any, base: str, path: str, role: str, errors: list[str]) -> list[str]:
    """Visit ``path`` at every viewport; the problems found (and the page's links)."""
    problems: list[str] = []
    for width, height in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        errors.clear()
        page.goto(base + path)
        page.wait_for_load_state("load")
        scroll = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        name = re.sub(r"[^A-Za-z0-9]+", "_", path.strip("/")) or "root"
        page.screenshot(path=str(ARTIFACTS / f"{role}__{name}__{width}.png"), full_page=True)
        if scroll[0] > scroll[1]:
            problems.append(f"{role} {path} at {width}px: scrollWidth {scroll[0]} > {scroll[1]}")
        problems.extend(f"{role} {path} at {width}px: console error {e}" for e in errors)
    return problems


def links_of(page: Any, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    out = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" == base and parts.path.startswith(PREFIX):
            out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def is_html(page: Any, base: str, path: str) -> bool:
    res = page.request.get(base + path, max_redirects=0)
    return res.status < 300 and res.headers.get("content-type", "").startswith("text/html")


def test_every_console_page_fits_the_screen_for_every_role(console_server, browser):
    base, app, suffix = console_server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    plain, detail = console_routes(app)
    adapter = app.url_map.bind("127.0.0.1")
    problems: list[str] = []
    visited_endpoints: set[str] = set()
    for role in roles():
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        sign_in(page, base, f"{role}{suffix}")
        queue = [p for p in plain if is_html(page, base, p)]
        seen_detail: set[str] = set()
        while queue:
            path = queue.pop(0)
            problems += check_page(page, base, path, role, errors)
            visited_endpoints.add(adapter.match(urlsplit(path).path, method="GET")[0])
            for link in links_of(page, base):
                try:
                    endpoint, _ = adapter.match(urlsplit(link).path, method="GET")
                except Exception:  # not a GET page of the console (a POST-only action, a 404 link)
                    continue
                if endpoint in detail and endpoint not in seen_detail and is_html(page, base, link):
                    seen_detail.add(endpoint)
                    queue.append(link)
        context.close()
    assert not problems, "\n".join(problems)
    # every detail page of the console was reached from the seeded data by some role
    missing = sorted(e for e in detail if e not in visited_endpoints and not e.endswith("export")
                     and "export" not in detail[e].rule and not detail[e].rule.endswith(".json"))
    assert not missing, f"detail pages no page links to (seed data for them): {missing}"
    assert "staff_inbox.index" in visited_endpoints
