"""Action-test fixtures: real Trackers, a fresh dispatcher, stores on a private seeded database."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from common.clock import CITY_TZ, city_today
from tests.domain_files import domain as load_domain


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return load_domain()


@pytest.fixture
def stores(seeded_url):
    from actions.settings import ActionSettings
    from actions.stores import Stores
    from casework.repository import CaseworkRepository
    from knowledge.db import make_engine, session_factory
    from knowledge.repository import KnowledgeRepository
    from knowledge.search import KnowledgeSearch

    engine = make_engine(seeded_url)
    factory = session_factory(engine)
    knowledge = KnowledgeRepository(factory)
    casework = CaseworkRepository(factory)
    casework.load_sample_applications()
    yield Stores(knowledge=knowledge, search=KnowledgeSearch(repository=knowledge), casework=casework,
                 settings=ActionSettings.load(), code_sender=RecordingSender())
    engine.dispose()


class RecordingSender:
    """A fake :class:`channels.core.Sender` for phone codes: keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, text: str) -> str:
        self.sent.append((to, text))
        return f"fake-{len(self.sent)}"


def prove_phone(stores: Any, phone: str, sender: str = "tester") -> None:
    """Prove ``phone`` for the conversation ``sender`` the way a citizen does: code by SMS, code typed back."""
    import re

    from casework.guards import CodeResult
    from common.identity import hash_sender

    stores.phone_proofs.issue(phone, hash_sender(sender), "", stores.code_sender)
    code = re.search(r"\d{6}", stores.code_sender.sent[-1][1]).group(0)
    assert stores.phone_proofs.check(phone, hash_sender(sender), code).result is CodeResult.PROVED


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def pinned_now(monkeypatch) -> dt.datetime:
    """Pin the booking clock to 10:00 today (city time)."""
    moment = dt.datetime.combine(city_today(), dt.time(10, 0), tzinfo=CITY_TZ)
    monkeypatch.setattr("actions.appointment.now", lambda: moment)
    return moment


def make_tracker(text: str = "", intent: str = "inform", entities: list[dict[str, Any]] | None = None,
                 slots: dict[str, Any] | None = None, set_now: dict[str, Any] | None = None,
                 channel: str = "webchat", active_loop: str | None = None, sender: str = "tester") -> Tracker:
    """A tracker whose latest user message is ``text``; ``set_now`` are slots set since that message."""
    parse = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or []}
    events: list[dict[str, Any]] = [{"event": "user", "text": text, "input_channel": channel, "parse_data": parse}]
    events += [{"event": "slot", "name": k, "value": v} for k, v in (set_now or {}).items()]
    return Tracker(sender_id=sender, slots={**(slots or {}), **(set_now or {})}, latest_message=parse,
                   events=events, paused=False, followup_action=None,
                   active_loop={"name": active_loop} if active_loop else {}, latest_action_name="action_listen")


def run(action: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
    """Run an action's async ``run`` to completion."""
    return asyncio.run(action.run(dispatcher, tracker, domain))


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") for m in dispatcher.messages]


def slots_set(events: list[dict]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
