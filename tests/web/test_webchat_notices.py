"""A notice for a web chat session is shown when the citizen opens the chat again (real Chromium)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from casework.outbox import Outbox, OutboxPolicy
from channels.state import ChannelState
from channels.webchat.notices import WebchatNoticeBox
from common.sealing import Sealer, make_sealer
from server.outbox_worker import OutboxWorker, WorkerSettings

SESSION = "0123456789abcdef0123456789abcdef"  # a session the relay issued (signed cookie below)
SECRET = "notices-test-" + "k" * 32
NOTICE = "您反映的问题（受理编号 TS2612030001）已由市交通运输局答复：公交站牌已更换。"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ChannelState]:
    st = ChannelState(f"sqlite:///{tmp_path / 'channels.db'}")
    yield st
    st.dispose()


@pytest.fixture
def live_server(state: ChannelState) -> Iterator[str]:
    from waitress import create_server

    from server.app import create_app

    app = create_app({"TESTING": True, "CHANNEL_STATE": state, "SECRET_KEY": SECRET})
    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


def test_the_notice_appears_once_when_the_same_session_opens_the_chat(
        db_url: str, state: ChannelState, live_server: str, browser: object) -> None:
    from knowledge.db import make_engine, session_factory

    engine = make_engine(db_url)
    outbox = Outbox(session_factory(engine), sealer=Sealer(make_sealer(Fernet.generate_key().decode())),
                    policy=OutboxPolicy())
    outbox.enqueue(key="case_replied:TS2612030001:1", kind="case_replied", channel="webchat",
                   recipient=f"webchat-{SESSION}", body=NOTICE)
    worker = OutboxWorker(outbox, {"webchat": WebchatNoticeBox(state)}, WorkerSettings(worker_id="t"))
    assert worker.run_once() == {"sent": 1}
    engine.dispose()

    other = browser.new_page()  # type: ignore[attr-defined]
    other.goto(f"{live_server}/chat/")  # another citizen: a fresh session sees nothing
    other.wait_for_load_state("networkidle")
    assert NOTICE not in other.inner_text("#messages")

    from itsdangerous import URLSafeTimedSerializer

    from channels.webchat.relay import SESSION_COOKIE, SESSION_SALT

    context = browser.new_context()  # type: ignore[attr-defined]
    context.add_cookies([{"name": SESSION_COOKIE, "value": URLSafeTimedSerializer(SECRET, salt=SESSION_SALT).dumps(SESSION),
                          "domain": "127.0.0.1", "path": "/chat"}])
    page = context.new_page()
    page.goto(f"{live_server}/chat/")
    page.wait_for_selector(f".row.bot .bubble:has-text('{NOTICE[:20]}')", timeout=10_000)
    assert page.locator(".row.bot .bubble", has_text="公交站牌已更换").count() == 1
    page.reload()
    page.wait_for_load_state("networkidle")
    assert "公交站牌已更换" not in page.inner_text("#messages")  # shown once, not on every visit
