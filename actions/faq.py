"""Service-guide answers from the knowledge base (never from Rasa responses)."""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, channel_of, sender_of, user_text
from actions.services.faq_logic import (
    TOPIC_FIELDS,
    TOPIC_LABELS,
    decide,
    detect_topic,
    full_guide,
    is_payload,
    section_form,
    short_list,
    topic_content,
)
from knowledge.pii import mask_pii
from knowledge.textnorm import normalize

# A follow-up within a known service matches an FAQ when this share of its words appear.
FOLLOW_UP_COVERAGE = 0.34
# Unmatched texts this short are treated as not understood rather than as unanswered questions.
SHORT_UNCLEAR_CHARS = 4
# A reply this short to the rating question that holds a score ("3", "4分", "一般") is the rating.
BARE_RATING_CHARS = 6


def latest_entity(tracker: Tracker, name: str) -> str | None:
    """The value of the first ``name`` entity in the latest message."""
    for ent in (tracker.latest_message or {}).get("entities") or []:
        if ent.get("entity") == name and ent.get("value"):
            return str(ent["value"])
    return None


class ActionAnswerFaq(CitizenAction):
    """Answers a service-guide question.

    Decides between: the FAQ or guide of the service named (or kept in context for
    follow-ups such as "那要多少钱"), the search's confident top hit, a choice among two
    or three close services (buttons), or an honest "not found" that is recorded for
    staff (PII masked) with an offer of a human.
    """

    def name(self) -> str:
        return "action_answer_faq"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = user_text(tracker)
        if is_payload(text):  # a button: answer the question that was pending
            text = tracker.get_slot("pending_question") or ""
        named = await self._known_service(latest_entity(tracker, "service"))
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if intent == "inform" and not named:  # a bare date, number or name with nothing asked
            if tracker.get_slot("rating_context") and len(text.strip()) <= BARE_RATING_CHARS:
                # "3" typed after "请为本次服务打个分": a rating, not a question
                from actions.rating import ActionRecordRating, parse_rating

                if parse_rating(None, text) is not None:
                    return await ActionRecordRating(self._stores).handle(dispatcher, tracker, domain)
            dispatcher.utter_message(response="utter_how_can_help")
            return []
        if named:
            return await self._answer_within(dispatcher, named, text)
        search = self.stores.search
        settings = self.stores.settings
        hits = await self.blocking(search.search, text, 3) if text else []
        decision = decide(hits, answer_threshold=settings.answer_threshold,
                          suggest_threshold=settings.suggest_threshold, ambiguity_margin=settings.ambiguity_margin)
        context = await self._known_service(tracker.get_slot("service"))
        topic = detect_topic(text)
        new_service = decision.kind == "answer" and decision.hits[0].service_id not in (None, context)
        if context and not new_service:
            if topic:  # "那要多少钱？" about the service in context
                return await self._answer_within(dispatcher, context, text)
            if decision.kind != "answer":
                within = await self.blocking(search.search_within, context, text, 1) if text else []
                if within and within[0].confidence >= FOLLOW_UP_COVERAGE:
                    return await self._answer_faq(dispatcher, within[0].faq_id)
        if decision.kind == "none" and not hits and len(normalize(text)) <= SHORT_UNCLEAR_CHARS:
            # A few characters that match nothing ("跳过", "嗯嗯"): not a question to record.
            dispatcher.utter_message(response="utter_default")
            return [SlotSet("pending_question", None)]
        if decision.kind == "answer":
            hit = decision.hits[0]
            if hit.confidence < settings.low_confidence:
                await self._record(tracker, text, "low_confidence", hit)
            if hit.faq_id is not None:
                return await self._answer_faq(dispatcher, hit.faq_id)
            return await self._answer_within(dispatcher, hit.service_id, text)
        if decision.kind == "choose":
            buttons = []
            for hit in decision.hits:
                svc = await self.blocking(self.stores.knowledge.get_service, hit.service_id)
                buttons.append({"title": svc.name,
                                "payload": "/ask_service_guide" + json.dumps({"service": svc.id})})
            if len(buttons) == 1:  # one plausible service: ask, don't present a one-item menu
                dispatcher.utter_message(response="utter_did_you_mean", service_name=buttons[0]["title"],
                                         buttons=buttons)
            else:
                dispatcher.utter_message(response="utter_which_service", buttons=buttons)
            return [SlotSet("pending_question", text[:500])]
        await self._record(tracker, text, "no_match", hits[0] if hits else None)
        dispatcher.utter_message(response="utter_faq_no_answer")
        dispatcher.utter_message(response="utter_offer_human")
        return [SlotSet("pending_question", None)]

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
                                 service_name=service_name or "市民服务",
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
            "online_url": svc.online_url or "暂未开通",
            "sms_summary": section_form(svc, "summary", "sms", svc.summary),
            "spoken_summary": section_form(svc, "summary", "spoken", svc.summary),
            "spoken_fees": section_form(svc, "fees", "spoken", svc.fees)}


def more_hint(full_text: str) -> dict[str, str]:
    """The structured hint channels with a short form use: ``more_text`` is what "更多" sends next."""
    return {"more_text": full_text}
