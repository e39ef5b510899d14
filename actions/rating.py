"""Satisfaction ratings (1-5, 5 = 非常满意), stored with channel and service for the staff dashboard.

The rating question is a closed question (see :mod:`actions.closed_question`): each
option's number is its score on every channel (SMS "5. 非常满意", keypad 5), so "5",
"5分", "五星", "满意" and "非常满意" are read alike.
"""

from __future__ import annotations

import re
import unicodedata

import cn2an
from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, channel_of, sender_of, user_text
from actions.case_desk import RATING_CONTEXT, record_case_rating
from actions.closed_question import ask, domain_buttons
from actions.faq import latest_entity
from actions.live_offer import offer_human
from actions.services.closed_question import EXPECT_CHOICE, bare_number, make_question, parse_payload

WORDS = (("非常不满意", 1), ("十分不满意", 1), ("很不满意", 1), ("差评", 1), ("很差", 1), ("太差", 1),
         ("不满意", 2), ("唔满意", 2), ("不好", 2), ("一般", 3), ("麻麻地", 3), ("还行", 3), ("还可以", 3),
         ("非常满意", 5), ("十分满意", 5), ("很满意", 5), ("好评", 5), ("非常好", 5), ("很好", 5),
         ("满意", 4), ("不错", 4))
SKIP_PAYLOAD = "/deny"
_DIGITS_RE = re.compile(r"\d+")
_CN_SCORE_RE = re.compile(r"([零〇一二两三四五六七八九]+)\s*(?:分|星|颗星|个星|粒星)")  # 十分 is "very"


def _numbers(text: str) -> list[int]:
    """The numbers a rating reply gives: digits, and Chinese numerals counting 分 or 星 ("五星" → 5)."""
    text = unicodedata.normalize("NFKC", text)
    found = [int(d) for d in _DIGITS_RE.findall(text)]
    for word in _CN_SCORE_RE.findall(text):
        try:
            found.append(int(cn2an.cn2an(word, "smart")))
        except ValueError:
            continue
    return found
VERY_DISSATISFIED = 1  # offers a person (转人工) on text channels


def parse_rating(entity: str | None, text: str) -> int | None:
    """A 1-5 score (5 = 非常满意), or None when unclear or off the scale ("10分", "3分或4分": asked again).

    Read from the rating entity, a number ("5", "5分", "五星", "给五颗星") or words (满意 / 一般 / 差评).
    """
    for candidate in (entity or "", text):
        number = bare_number(candidate)
        if number is not None:
            return number if 1 <= number <= 5 else None
    numbers = set(_numbers(text))
    if len(numbers) == 1:
        (number,) = numbers
        return number if 1 <= number <= 5 else None
    if numbers:
        return None
    for word, score in WORDS:
        if word in text:
            return score
    return None


def ask_rating(dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, context: str) -> list[EventType]:
    """Ask for a rating of the service just used: options keyed by their score, skip without a number.

    Args:
        dispatcher: the action's dispatcher.
        tracker: the conversation (for its channel's wording).
        domain: the domain (the options are worded in ``utter_ask_rating``).
        context: what is rated (``booking``, ``cancel``, ``status``, ``complaint``).
    """
    buttons = domain_buttons(domain, "utter_ask_rating", channel_of(tracker))
    keys = []
    for button in buttons:
        parsed = parse_payload(str(button["payload"]))
        keys.append(str(parsed[1].get("rating") or "") if parsed and parsed[0] == "rate" else "")
    question = make_question(EXPECT_CHOICE, buttons, keys=keys, no=SKIP_PAYLOAD)
    return [*ask(dispatcher, "utter_ask_rating", question), SlotSet("rating_context", context)]


class ActionRecordRating(CitizenAction):
    """Stores the rating for the service just used (booking, status, complaint, cancel)."""

    def name(self) -> str:
        return "action_record_rating"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.get_slot("rating_context") == RATING_CONTEXT:  # 满意/基本满意/不满意 of a case reply
            return await record_case_rating(self, dispatcher, tracker)
        score = parse_rating(latest_entity(tracker, "rating"), user_text(tracker))
        if score is None:
            dispatcher.utter_message(response="utter_rating_not_understood")
            return []
        await self.blocking(self.stores.casework.record_rating, score=score,
                            context=tracker.get_slot("rating_context") or "general",
                            service_id=tracker.get_slot("service"), channel=channel_of(tracker),
                            sender_hash=sender_of(tracker))
        dispatcher.utter_message(response="utter_thanks_rating")
        offer = offer_human(dispatcher, tracker, "dissatisfied") if score == VERY_DISSATISFIED else []
        return [SlotSet("rating_context", None), *offer]
