"""Requests for a human: recorded on the conversation, answered per channel.

Web chat, SMS and Telegram are offered the live agent queue (:mod:`actions.live_agent`);
a letter asking for a person becomes an inquiry case for the case desk; the voice
channel's adapter performs the actual transfer (``<Dial>``).
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, channel_of, sender_of, user_text
from actions.live_offer import LIVE_CHANNELS, offer_human
from common.pii import mask_pii


class ActionHandoff(CitizenAction):
    """Records a hand-off event and offers the citizen the way to a human this channel has."""

    def name(self) -> str:
        return "action_handoff"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        channel = channel_of(tracker)
        await self.blocking(self.stores.casework.record_handoff, sender_hash=sender_of(tracker),
                            channel=channel, reason="requested")
        events: list[EventType] = [ActiveLoop(None), SlotSet("requested_slot", None),
                                   SlotSet("handoff_requested", True)]
        if channel in LIVE_CHANNELS:
            return [*events, *offer_human(dispatcher, tracker, "requested")]
        if channel == "mail":
            case = await self.blocking(
                self.stores.casework.create_case, description=mask_pii(user_text(tracker)), location="",
                contact_phone="", channel=channel, sender_hash=sender_of(tracker), kind="inquiry")
            dispatcher.utter_message(response="utter_handoff_case", number=case.number)
            return events
        dispatcher.utter_message(response="utter_handoff", json_message={"handoff": True})
        return events
