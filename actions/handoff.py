"""Requests for a human: recorded on the conversation, answered per channel."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, channel_of, sender_of


class ActionHandoff(CitizenAction):
    """Records a hand-off event and tells the citizen how a human is reached on this channel.

    The voice channel's adapter performs the actual transfer.
    """

    def name(self) -> str:
        return "action_handoff"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        await self.blocking(self.stores.casework.record_handoff, sender_hash=sender_of(tracker),
                            channel=channel_of(tracker), reason="requested")
        dispatcher.utter_message(response="utter_handoff", json_message={"handoff": True})
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("handoff_requested", True)]
