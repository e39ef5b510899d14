"""转人工 on text channels: offer a human, queue the conversation and pause the bot, or take a message.

Accepting (``/accept_live_agent``) puts the conversation in the agent queue
(:mod:`casework.handoff`) and returns Rasa's ``ConversationPaused``: from then on the core
records the citizen's messages but predicts nothing, in every Rasa process and across
restarts (the pause is an event of the stored tracker). The app server relays the
messages to the agent; when the agent ends, it resumes the conversation through the
core's API and triggers ``live_agent_ended``, answered by :class:`ActionLiveAgentEnded`.

Outside the desk's hours (``casework/agent_desk.yml``) or when nobody took the
conversation in time, the citizen may leave a message instead: the case desk's one
``leave_message_form`` (:mod:`actions.case_desk`) collects it and opens a case.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, channel_of, sender_of
from actions.live_offer import LIVE_CHANNELS, desk_settings
from actions.rating import ask_rating
from casework.handoff import HandoffRepository, expected_wait_s
from common.clock import city_now

SUMMARY_MESSAGES = 8
QUIET_SLOTS = frozenset({"requested_slot", "form_retries", "handoff_requested", "leave_message_text", "rating_context",
                         "live_agent_reason"})


def handoff_summary(tracker: Tracker) -> dict[str, Any]:
    """What the agent sees first: last intent, service, filled slots and the last messages."""
    intents = [(e.get("parse_data") or {}).get("intent", {}).get("name")
               for e in tracker.events if e.get("event") == "user"]
    topical = [i for i in intents if i and i not in ("request_human", "accept_live_agent", "affirm", "deny")]
    slots = {k: v for k, v in tracker.current_slot_values().items() if v not in (None, "", [], False)
             and k not in QUIET_SLOTS}
    lines = [{"who": "citizen" if e["event"] == "user" else "bot", "text": str(e.get("text") or "")}
             for e in tracker.events if e.get("event") in ("user", "bot") and e.get("text")
             and not str(e.get("text")).startswith("/")]  # button payloads say nothing to a person
    return {"intent": topical[-1] if topical else "", "service": tracker.get_slot("service") or "",
            "slots": slots, "last_messages": lines[-SUMMARY_MESSAGES:]}


class ActionEnqueueLiveAgent(CitizenAction):
    """Puts the conversation in the agent queue, tells the citizen their place, pauses the bot."""

    def name(self) -> str:
        return "action_enqueue_live_agent"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        channel = channel_of(tracker)
        settings = desk_settings()
        if channel not in LIVE_CHANNELS or not settings.is_open(city_now()):
            dispatcher.utter_message(response="utter_live_agent_closed", json_message={"live_agent": "closed"})
            return []
        repo = HandoffRepository(self.stores.casework.factory)
        reason = tracker.get_slot("live_agent_reason") or "requested"
        session, position = await self.blocking(
            repo.enqueue, conversation_id=tracker.sender_id, channel=channel, sender_hash=sender_of(tracker),
            reason=str(reason), summary=handoff_summary(tracker))
        minutes = max(1, round(expected_wait_s(position, settings) / 60))
        dispatcher.utter_message(response="utter_live_agent_queued", position=position, minutes=minutes,
                                 json_message={"live_agent": "queued", "session": session.id})
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("live_agent_reason", None),
                ConversationPaused()]


class ActionLiveAgentEnded(CitizenAction):
    """After the agent's session: the bot is back, and asks the citizen to rate the human service."""

    def name(self) -> str:
        return "action_live_agent_ended"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_live_agent_ended")
        return ask_rating(dispatcher, tracker, domain, "live_agent")


__all__ = ["ActionEnqueueLiveAgent", "ActionLiveAgentEnded", "handoff_summary"]
