"""Fixtures of the citizen-side scripted attacker: the live core behind a real app server.

The app server (``server.create_app``) runs in a thread on a free loopback port with
``TRUSTED_PROXIES=127.0.0.2``: a client connecting from 127.0.0.2 plays the reverse proxy
(its ``X-Forwarded-For`` is believed), anyone else's header is ignored. Browsers are
``requests`` sessions, so each keeps the server-issued cookie like a real browser.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

PROXY_ADDRESS = "127.0.0.2"
OUTSIDER_ADDRESS = "127.0.0.3"  # a client that is not the proxy (forged headers come from here)
REPORT = Path(__file__).resolve().parents[2] / "bench" / "REPORT_security_citizen.md"
COMMAND = ".venv-app/bin/python -m pytest tests/security/test_attacker_citizen.py -q -s"


class SourceAddressAdapter(HTTPAdapter):
    """Connects from a given local address (127.0.0.2 plays the trusted reverse proxy)."""

    def __init__(self, source: str, **kwargs: Any):
        self.source = source
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


@dataclass
class Browser:
    """One browser (one cookie jar) talking to the web chat, directly or through the proxy."""

    base: str
    forwarded_for: str | None = None  # set: the request comes through the trusted proxy for this client
    spoofed_for: str | None = None    # set: a forged X-Forwarded-For sent by a client that is not the proxy
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        if self.forwarded_for:
            self.http.mount(self.base, SourceAddressAdapter(PROXY_ADDRESS))
        elif self.spoofed_for:
            self.http.mount(self.base, SourceAddressAdapter(OUTSIDER_ADDRESS))

    def post(self, text: str) -> tuple[int, list[dict]]:
        """Send one message; (status, the bot's messages or [] when refused)."""
        headers = {}
        if self.forwarded_for or self.spoofed_for:
            headers["X-Forwarded-For"] = self.forwarded_for or self.spoofed_for or ""
        res = self.http.post(f"{self.base}/chat/api/message", json={"message": text}, headers=headers, timeout=90)
        body = res.json() if res.headers.get("Content-Type", "").startswith("application/json") else {}
        return res.status_code, body.get("messages") or []

    def say(self, text: str) -> str:
        """Send one message; the reply's text with button titles ("" when refused, e.g. 429)."""
        _, messages = self.post(text)
        lines = [m.get("text") or "" for m in messages]
        lines += [b.get("title", "") for m in messages for b in m.get("buttons") or ()]
        return "\n".join(lines)


@dataclass
class Scoreboard:
    """Attempts and successes of each attack, written to the report at the end of the module."""

    rows: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    def record(self, attack: str, attempts: int, got_through: int, note: str = "") -> None:
        self.rows[attack] = (attempts, got_through, note)
        print(f"\n[attacker] {attack}: {got_through} of {attempts} attempts got through. {note}")

    def write(self) -> None:
        if not self.rows:
            return
        lines = ["# Scripted attacker against the live stack (citizen side)", "",
                 f"Produced by `{COMMAND}` on {dt.date.today().isoformat()} (live Rasa core with the CI model, "
                 "action server, app server with the committed limits).", "",
                 "| attack | attempts | got through | note |", "|---|---:|---:|---|"]
        lines += [f"| {name} | {a} | {g} | {note} |" for name, (a, g, note) in self.rows.items()]
        total_a = sum(a for a, _, _ in self.rows.values())
        total_g = sum(g for _, g, _ in self.rows.values())
        lines += [f"| **all** | **{total_a}** | **{total_g}** | |", ""]
        REPORT.write_text("\n".join(lines), encoding="utf-8")


@dataclass
class CitizenStack:
    """The live core plus the app server the attacker talks to."""

    base: str
    core: Any
    scoreboard: Scoreboard

    def browser(self, *, via_proxy_for: str | None = None, spoofed_for: str | None = None) -> Browser:
        """A fresh browser (new cookie jar)."""
        return Browser(self.base, forwarded_for=via_proxy_for, spoofed_for=spoofed_for)

    def booking(self, ref: str, phone: str) -> Any:
        """The stored booking (any status) as the database has it."""
        from casework.repository import CaseworkRepository
        from knowledge.db import make_engine, session_factory

        engine = make_engine(self.core.db_url)
        try:
            return CaseworkRepository(session_factory(engine)).find_booking(ref, "+86" + phone)
        finally:
            engine.dispose()

    def bookings_for(self, phones: list[str]) -> int:
        """How many bookings exist for these phones (any status)."""
        from sqlalchemy import func, select

        from casework.models import Booking
        from knowledge.db import make_engine, session_factory

        engine = make_engine(self.core.db_url)
        try:
            with session_factory(engine)() as s:
                return int(s.scalar(select(func.count()).select_from(Booking).where(
                    Booking.phone.in_(["+86" + p for p in phones]))) or 0)
        finally:
            engine.dispose()


@pytest.fixture(scope="module", name="citizen_stack")
def citizen_stack_fixture(live_core: Any) -> Iterator[CitizenStack]:
    """The app server in a thread in front of the live core, trusting only 127.0.0.2 as its proxy."""
    from werkzeug.serving import make_server

    from devtools.live import free_port

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RASA_URL", live_core.rasa_url)
        mp.setenv("TRUSTED_PROXIES", PROXY_ADDRESS)
        mp.setenv("CHAT_TIMEOUT", "60")
        for name in ("RELAY_TOKEN", "RATELIMIT_STORAGE_URI", "REDIS_URL", "TWILIO_AUTH_TOKEN", "TELEGRAM_BOT_TOKEN"):
            mp.delenv(name, raising=False)
        from server import create_app

        app = create_app({"TESTING": True})
        port = free_port()
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        board = Scoreboard()
        try:
            yield CitizenStack(base=f"http://127.0.0.1:{port}", core=live_core, scoreboard=board)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            board.write()


TIME_RE = re.compile(r"[上下]午\d{1,2}:\d{2}")


def book(browser: Browser, phone: str, code: Any, *, when: str = "下周四下午三点", name: str = "林示例",
         confirm: bool = True) -> list[str]:
    """Walk the booking dialogue; ``code()`` answers the SMS-code question. Returns every reply."""
    replies = [browser.say(f"我想预约{when}去天河办护照")]
    for _ in range(10):
        text = replies[-1]
        if not text or "预约成功" in text or "已预约了" in text or "上限" in text or ("12345" in text and "验证" in text):
            break
        if "确认预约" in text:
            if not confirm:
                break
            replies.append(browser.say("确认"))
        elif "验证码" in text:
            answer = code()
            if answer is None:
                break
            replies.append(browser.say(answer))
        elif "姓名" in text:
            replies.append(browser.say(name))
        elif "手机" in text:
            replies.append(browser.say(phone))
        elif "几点" in text or "时段" in text:
            offered = TIME_RE.findall(text)
            replies.append(browser.say(offered[0] if offered else "下午三点"))
        elif "哪一天" in text or "工作日" in text:
            replies.append(browser.say("下周五"))
        elif "服务中心" in text:
            replies.append(browser.say("天河"))
        else:
            break
    return replies
