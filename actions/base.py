"""Base classes: every action turns failures into a polite apology, never a stack trace.

The SDK builds each action once, with no arguments, and shares it between
conversations: back-ends come lazily from :mod:`actions.stores`, and nothing
conversation-specific is kept on ``self``.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.stores import Stores, default_stores
from common.identity import hash_sender

log = logging.getLogger(__name__)
T = TypeVar("T")


class StoresMixin:
    """Lazy access to the back-ends, overridable through the constructor."""

    def __init__(self, stores: Stores | None = None) -> None:
        self._stores = stores

    @property
    def stores(self) -> Stores:
        """The back-ends (the process-wide defaults unless a test passed its own)."""
        return self._stores or default_stores()

    @staticmethod
    async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking database or search work off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)


def channel_of(tracker: Tracker) -> str:
    """The channel the latest message came from (webchat, sms, voice, mail, telegram, rest)."""
    return tracker.get_latest_input_channel() or "unknown"


def sender_of(tracker: Tracker) -> str:
    """The conversation's pseudonymous id for logs and records."""
    return hash_sender(tracker.sender_id or "")


def metadata_of(tracker: Tracker) -> dict[str, Any]:
    """The metadata the channel sent with the latest message ({} for none)."""
    meta = (tracker.latest_message or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}


# Channels whose messages carry the citizen's own number (the caller / SMS sender) in ``metadata.phone``.
PHONE_CHANNELS = frozenset({"sms", "voice"})


def client_of(tracker: Tracker) -> str:
    """Pseudonym of where the message came from, "" when the channel does not say.

    The web chat's client address (``metadata.client_address``, set by the app server behind
    its trusted proxy) or the SMS/voice caller's number (``metadata.phone``). Guards count
    failures and codes per client so rotating conversation ids does not reset them.
    """
    meta = metadata_of(tracker)
    where = meta.get("client_address") or meta.get("phone")
    return hash_sender("client:" + where) if isinstance(where, str) and where else ""


def channel_phone(tracker: Tracker) -> str | None:
    """The citizen's own number as the SMS or voice channel carries it (E.164), else None."""
    if channel_of(tracker) not in PHONE_CHANNELS:
        return None
    phone = metadata_of(tracker).get("phone")
    return phone if isinstance(phone, str) and phone else None


def user_text(tracker: Tracker) -> str:
    """The latest user message's text ("" for none)."""
    return str((tracker.latest_message or {}).get("text") or "")


class CitizenAction(StoresMixin, Action, abc.ABC):
    """An action whose ``handle`` runs guarded.

    Any unexpected error becomes ``utter_service_unavailable`` (logged with the hashed
    sender), never a 500.
    """

    def name(self) -> str:  # pragma: no cover - every subclass names itself
        raise NotImplementedError

    @abc.abstractmethod
    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        """The action's logic."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            return await self.handle(dispatcher, tracker, domain)
        except Exception:
            log.exception("action %s failed (sender %s, channel %s)", self.name(), sender_of(tracker),
                          channel_of(tracker))
            dispatcher.utter_message(response="utter_service_unavailable")
            return []


class CitizenFormValidation(StoresMixin, FormValidationAction, abc.ABC):
    """A form validation action with the same guard as :class:`CitizenAction`.

    Validators are named ``validate_<slot>`` (and ``extract_<slot>`` for custom
    extraction); a contract test checks every required slot has one.
    """

    @abc.abstractmethod
    def name(self) -> str:
        """``validate_<form name>``."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            events = await super().run(dispatcher, tracker, domain)
            return events + retry_guard(dispatcher, tracker, events)
        except Exception:
            log.exception("form validation %s failed (sender %s)", self.name(), sender_of(tracker))
            dispatcher.utter_message(response="utter_service_unavailable")
            from rasa_sdk.events import ActiveLoop

            return [ActiveLoop(None), SlotSet("requested_slot", None)]


RETRY_SLOT = "form_retries"
MAX_FAILED_TRIES = 2


def retry_guard(dispatcher: CollectingDispatcher, tracker: Tracker, events: list[EventType]) -> list[EventType]:
    """Count failed answers to the slot a form asked for; after two, offer a way out.

    A try fails when the citizen answered the asked slot and the answer was refused (the
    validator set it back to empty). A message that gave the slot nothing at all ("不要",
    a new question) is not a try: no event is added, so Rasa rejects the form's turn and the
    rules handle the interruption (adding any slot event here would keep the form running and
    hide every "stop" rule). The count lives in the ``form_retries`` slot (``{"slot": name,
    "count": n}``) and restarts when another slot is asked or the slot is filled. On the second
    failure the citizen gets ``utter_form_stuck`` (buttons: a person, stop) beside the question,
    so no form can loop silently.
    """
    asked = tracker.get_slot("requested_slot")
    if not asked or not tracker.latest_message:
        return []
    answered = [e for e in events if e.get("event") == "slot" and e.get("name") == asked]
    if not answered:
        return []
    filled = answered[-1].get("value") is not None
    previous = tracker.get_slot(RETRY_SLOT) or {}
    if filled:
        return [SlotSet(RETRY_SLOT, None)] if previous else []
    count = (previous.get("count", 0) if previous.get("slot") == asked else 0) + 1
    if count >= MAX_FAILED_TRIES:
        dispatcher.utter_message(response="utter_form_stuck")
        return [SlotSet(RETRY_SLOT, None)]
    return [SlotSet(RETRY_SLOT, {"slot": asked, "count": count})]
