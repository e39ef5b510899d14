"""Service-guide answers from the knowledge base (never from Rasa responses)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, channel_of, sender_of, user_text
from actions.case_desk import LETTER_CHANNELS, leave_message
from actions.closed_question import ask, ask_from_domain
from actions.live_offer import offer_human, previous_bot_response
from actions.services.closed_question import EXPECT_CHOICE, EXPECT_YES_NO, make_question
from actions.services.faq_logic import (
    TOPIC_FIELDS,
    Thresholds,
    detect_topic,
    full_guide,
    is_payload,
    plan_answer,
    section_form,
    short_list,
    topic_content,
)
from actions.wording import word
from common.pii import mask_pii
from common.status import TOPIC_LABELS
from common.textnorm import normalize

# A follow-up within a known service matches an FAQ when this share of its words appear.
FOLLOW_UP_COVERAGE = 0.34
# Unmatched texts this short are treated as not understood rather than as unanswered questions.
SHORT_UNCLEAR_CHARS = 4
# "不用" to the offer of a person: the usual "anything else?" (rule: deny outside a form).
DECLINE_PAYLOAD = "/deny"
PERSON_PAYLOAD = "/request_human"  # "好的" to "转人工，或留言给相关部门？" takes the first offer: a person


def latest_entity(tracker: Tracker, name: str) -> str | None:
    """The value of the first ``name`` entity in the latest message."""
    for ent in (tracker.latest_message or {}).get("entities") or []:
        if ent.get("entity") == name and ent.get("value"):
            return str(ent["value"])
    return None


class ActionAnswerFaq(CitizenAction):
    """Answers a service-guide question.

    Decides (:func:`actions.services.faq_logic.plan_answer`) between: the FAQ or guide of
    the service named (or kept in context for follow-ups such as "那要多少钱"), the
    search's confident top hit, "您是想了解…吗？" for one close service or a choice among
    two or three (closed questions, read by ``action_resolve_reply``), or an honest
    "not found" that is recorded for staff (PII masked) with an offer of a person.
    """

    def name(self) -> str:
        return "action_answer_faq"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = user_text(tracker)
        if is_payload(text):  # a button (or an answer to "您是想了解…吗？"): answer the question that was pending
            text = tracker.get_slot("pending_question") or ""
        named = await self._known_service(latest_entity(tracker, "service"))
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        context = await self._known_service(tracker.get_slot("service"))
        search = self.stores.search
        lookups = not named and intent != "inform" and bool(text)
        hits = await self.blocking(search.search, text, 3) if lookups else []
        context_hits = await self.blocking(search.search_within, context, text, 1) if lookups and context else []
        plan = plan_answer(intent=intent, named=named, context=context, topic=detect_topic(text),
                           text_chars=len(normalize(text)), hits=hits, context_hits=context_hits,
                           thresholds=self._thresholds())
        if plan.record:
            await self._record(tracker, text, plan.record, plan.record_hit)
        if plan.kind == "ask_topic":
            dispatcher.utter_message(response="utter_ask_guide_topic")
            return [SlotSet("pending_question", None)]
        if plan.kind == "how_can_help":
            dispatcher.utter_message(response="utter_how_can_help")
            return []
        if plan.kind == "within" and plan.service_id:
            return await self._answer_within(dispatcher, plan.service_id, text)
        if plan.kind == "faq":
            return await self._answer_faq(dispatcher, plan.faq_id)
        if plan.kind == "not_understood":
            # Twice in a row not understood: offer a person instead of a third try.
            twice = previous_bot_response(tracker) == "utter_default"
            dispatcher.utter_message(response="utter_default")
            offer = offer_human(dispatcher, tracker, "not_understood") if twice else []
            return [SlotSet("pending_question", None), *offer]
        if plan.kind == "choose":
            return [*await self._ask_which(dispatcher, plan.hits), SlotSet("pending_question", text[:500])]
        dispatcher.utter_message(response="utter_faq_no_answer")
        if channel_of(tracker) in LETTER_CHANNELS:  # a letter is one-shot: it becomes a case at once
            return [*await leave_message(self, dispatcher, tracker, text), SlotSet("pending_question", None)]
        offer = ask_from_domain(dispatcher, tracker, domain, "utter_offer_leave_message", EXPECT_CHOICE,
                                yes=PERSON_PAYLOAD, no=DECLINE_PAYLOAD)
        return [*offer, SlotSet("pending_question", None), SlotSet("leave_message_text", text[:2000])]

    def _thresholds(self) -> Thresholds:
        settings = self.stores.settings
        return Thresholds(answer=settings.answer_threshold, suggest=settings.suggest_threshold,
                          ambiguity_margin=settings.ambiguity_margin, low_confidence=settings.low_confidence,
                          follow_up_coverage=FOLLOW_UP_COVERAGE, short_unclear_chars=SHORT_UNCLEAR_CHARS)

    async def _ask_which(self, dispatcher: CollectingDispatcher, hits: Sequence[Any]) -> list[EventType]:
        """Ask which of the close services is meant: a yes/no for one, a choice among several."""
        buttons = []
        for hit in hits:
            svc = await self.blocking(self.stores.knowledge.get_service, hit.service_id)
            buttons.append({"title": svc.name, "payload": "/ask_service_guide" + json.dumps({"service": svc.id})})
        if len(buttons) == 1:  # one plausible service: ask, don't present a one-item menu
            return ask(dispatcher, "utter_did_you_mean", make_question(EXPECT_YES_NO, buttons), buttons=buttons,
                       service_name=buttons[0]["title"])
        return ask(dispatcher, "utter_which_service", make_question(EXPECT_CHOICE, buttons), buttons=buttons)

    async def _known_service(self, value: str | None) -> str | None:
        if not value:
            return None
        return value if await self.blocking(self.stores.knowledge.has_service, value) else None

    async def _answer_within(self, dispatcher: CollectingDispatcher, service_id: str, text: str) -> list[EventType]:
        """Answer about a known service: its matching FAQ, the asked topic, or the guide summary."""
        search = self.stores.search
        within = await self.blocking(search.search_within, service_id, text, 3) if text else []
        topic = detect_topic(text)
        # A bare service name ("护照") gets the guide summary, not one of its FAQs.
        specific = len(search.lexicon.words(normalize(text))) >= 2 or topic is not None
        candidates = [h for h in within if h.confidence >= FOLLOW_UP_COVERAGE] if specific else []
        if topic:
            # "点样办…" asks about the procedure: an FAQ about the fees is not an answer to it.
            for hit in candidates:
                faq = await self.blocking(self.stores.knowledge.get_faq, hit.faq_id)
                if faq.topic == topic:
                    return await self._answer_faq(dispatcher, hit.faq_id)
        elif candidates:
            return await self._answer_faq(dispatcher, candidates[0].faq_id)
        svc = await self.blocking(self.stores.knowledge.get_service, service_id)
        if topic and topic_content(svc, topic):
            content = topic_content(svc, topic)
            field = "locations" if topic == "online" else TOPIC_FIELDS[topic]  # a URL is no spoken answer
            dispatcher.utter_message(response="utter_service_topic", name=svc.name,
                                     topic_label=TOPIC_LABELS[topic], content=content,
                                     sms_content=section_form(svc, field, "sms", content),
                                     spoken_content=section_form(svc, field, "spoken", content),
                                     json_message=more_hint(f"【{svc.name}】{TOPIC_LABELS[topic]}：{content}"))
        else:
            dispatcher.utter_message(response="utter_service_guide", **guide_fields(svc),
                                     json_message=more_hint(full_guide(svc)))
        return [SlotSet("service", svc.id), SlotSet("pending_question", None)]

    async def _answer_faq(self, dispatcher: CollectingDispatcher, faq_id: int | None) -> list[EventType]:
        faq = await self.blocking(self.stores.knowledge.get_faq, faq_id)
        service_name = ""
        if faq.service_id:
            service_name = (await self.blocking(self.stores.knowledge.get_service, faq.service_id)).name
        dispatcher.utter_message(response="utter_faq_answer", answer=faq.answer,
                                 service_name=service_name or word("general_service"),
                                 sms_answer=faq.sms_text or faq.answer, spoken_answer=faq.spoken_text or faq.answer,
                                 json_message=more_hint(faq.answer) if faq.sms_text else None)
        return [SlotSet("service", faq.service_id), SlotSet("pending_question", None)]

    async def _record(self, tracker: Tracker, text: str, reason: str, hit: Any) -> None:
        await self.blocking(
            self.stores.casework.record_unanswered, question=mask_pii(text), channel=channel_of(tracker),
            sender_hash=sender_of(tracker), reason=reason,
            best_service_id=getattr(hit, "service_id", None), best_confidence=getattr(hit, "confidence", None))


def guide_fields(svc: Any) -> dict[str, str]:
    """Template variables of ``utter_service_guide`` (full texts, and the SMS / spoken short forms)."""
    return {"name": svc.name, "summary": svc.summary, "materials": short_list(svc.materials),
            "time_limit": svc.time_limit, "fees": svc.fees, "locations": svc.locations,
            "online_url": svc.online_url or word("no_online_service"),
            "sms_summary": section_form(svc, "summary", "sms", svc.summary),
            "spoken_summary": section_form(svc, "summary", "spoken", svc.summary),
            "spoken_fees": section_form(svc, "fees", "spoken", svc.fees)}


def more_hint(full_text: str) -> dict[str, str]:
    """The structured hint channels with a short form use: ``more_text`` is what "更多" sends next."""
    return {"more_text": full_text}
