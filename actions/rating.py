"""Satisfaction ratings (1-5), stored with channel and service for the staff dashboard."""

from __future__ import annotations

import re

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, channel_of, sender_of, user_text
from actions.faq import latest_entity

WORDS = (("非常不满意", 1), ("很不满意", 1), ("差评", 1), ("不满意", 2), ("唔满意", 2), ("一般", 3), ("麻麻地", 3),
         ("非常满意", 5), ("很满意", 5), ("好评", 5), ("满意", 4))


def parse_rating(entity: str | None, text: str) -> int | None:
    """A 1-5 score from the rating entity, a digit, or words like 满意 / 一般 / 差评."""
    for candidate in (entity or "", text):
        match = re.search(r"[1-5]", candidate)
        if match:
            return int(match.group())
    for word, score in WORDS:
        if word in text:
            return score
    return None


class ActionRecordRating(CitizenAction):
    """Stores the rating for the service just used (booking, status, complaint, cancel)."""

    def name(self) -> str:
        return "action_record_rating"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        score = parse_rating(latest_entity(tracker, "rating"), user_text(tracker))
        if score is None:
            dispatcher.utter_message(response="utter_rating_not_understood")
            return []
        await self.blocking(self.stores.casework.record_rating, score=score,
                            context=tracker.get_slot("rating_context") or "general",
                            service_id=tracker.get_slot("service"), channel=channel_of(tracker),
                            sender_hash=sender_of(tracker))
        dispatcher.utter_message(response="utter_thanks_rating")
        return [SlotSet("rating_context", None)]
