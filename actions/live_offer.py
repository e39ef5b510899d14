"""Offering a human on a text channel (shared by 转人工, repeated misunderstanding and a poor rating)."""

from __future__ import annotations

from functools import lru_cache

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import channel_of
from casework.handoff import DeskSettings
from common.clock import city_now

LIVE_CHANNELS = frozenset({"webchat", "sms", "telegram"})


@lru_cache(maxsize=1)
def desk_settings() -> DeskSettings:
    """The desk's hours and waits (``casework/agent_desk.yml``), read once per process."""
    return DeskSettings.load()


def offer_human(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> list[EventType]:
    """Offer the agent queue while agents are on duty, else to leave a message; [] off text channels.

    Args:
        dispatcher: the action's dispatcher.
        tracker: the conversation (its channel decides).
        reason: why (``requested``, ``not_understood``, ``dissatisfied``), kept for the dashboard.
    """
    if channel_of(tracker) not in LIVE_CHANNELS:
        return []
    if desk_settings().is_open(city_now()):
        dispatcher.utter_message(response="utter_offer_live_agent", json_message={"live_agent": "offered"})
    else:
        dispatcher.utter_message(response="utter_live_agent_closed", json_message={"live_agent": "closed"})
    return [SlotSet("live_agent_reason", reason)]


def previous_bot_response(tracker: Tracker) -> str | None:
    """The response name of the bot's last message before the latest user message."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return None
            seen_user = True
        elif event.get("event") == "bot" and seen_user:
            return (event.get("metadata") or {}).get("utter_action")
    return None
