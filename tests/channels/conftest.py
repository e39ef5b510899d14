"""Fixtures of the channel tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.state import ChannelState
from devtools.fake_telegram import FakeBotAPI, serve
from server.app import create_app
from tests.channels.twilio_helpers import AGENT, BASE, TOKEN, WORKDAY_MORNING, FakeSender


@pytest.fixture
def fake_telegram() -> Iterator[FakeBotAPI]:
    """A fake Bot API on a free loopback port."""
    with serve() as api:
        yield api


@pytest.fixture
def sender() -> FakeSender:
    """Outbound SMS recorded instead of sent (the Twilio REST API is a SaaS)."""
    return FakeSender()


@pytest.fixture
def app_client(live_core: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sender: FakeSender) -> Iterator[Any]:
    """The real app server (SMS, voice, web chat) in front of the live core, on a workday morning."""
    monkeypatch.setenv("RASA_URL", live_core.rasa_url)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    monkeypatch.setenv("HOTLINE_AGENT_NUMBER", AGENT)
    for name in ("SMS_CORE_TIMEOUT", "VOICE_CORE_TIMEOUT", "CHAT_TIMEOUT"):
        monkeypatch.setenv(name, "12")
    for name in ("RELAY_TOKEN", "SMS_MAX_PARTS", "HOTLINE_AGENT_HOURS"):
        monkeypatch.delenv(name, raising=False)
    state = ChannelState(f"sqlite:///{tmp_path / 'channels.db'}")
    app = create_app({"CHANNEL_STATE": state, "SMS_SENDER": sender, "CHANNEL_CLOCK": lambda: WORKDAY_MORNING})
    yield app.test_client()
    state.dispose()
