"""Closed questions on the conversation: asking one, and reading the next reply against it.

:func:`ask` utters a question with its options, sends them to the channel as a structured
hint and keeps them in the ``closed_question`` slot. ``ClosedQuestionPolicy``
(``bot/policies/closed_question.py``) then runs :class:`ActionResolveReply` on the next
message, which answers from the options or hands the message on unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, EventType, SlotSet, UserUtteranceReverted, UserUttered
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, channel_of
from actions.services.closed_question import (
    EXPECT_CHOICE,
    ClosedQuestion,
    Reply,
    make_question,
    parse_payload,
    resolve,
)
from common.textnorm import normalize

SLOT = "closed_question"


def domain_buttons(domain: DomainDict, response: str, channel: str) -> list[dict[str, Any]]:
    """The buttons of ``response`` as the domain words them for ``channel`` (else the default variation)."""
    variations = (domain.get("responses") or {}).get(response) or []
    chosen = next((v for v in variations if v.get("channel") == channel), None) \
        or next((v for v in variations if not v.get("channel")), None) or {}
    return [dict(b) for b in chosen.get("buttons") or () if isinstance(b, Mapping) and b.get("payload")]


def ask(dispatcher: CollectingDispatcher, response: str, question: ClosedQuestion,
        buttons: Sequence[Mapping[str, Any]] | None = None, **kwargs: Any) -> list[EventType]:
    """Utter ``response`` as a closed question: hint to the channel, question kept on the conversation.

    Args:
        dispatcher: the action's dispatcher.
        response: the domain response that words the question.
        question: its options and what a yes or a no stands for.
        buttons: buttons to add when the response does not define its own.
        **kwargs: the response's template variables.

    Returns:
        The event that keeps the question for the next reply.
    """
    dispatcher.utter_message(response=response, buttons=list(buttons or []), json_message=question.hint(), **kwargs)
    return [SlotSet(SLOT, question.to_slot())]


def ask_from_domain(dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, response: str,
                    expect: str, *, yes: str | None = None, no: str | None = None,
                    keys: Sequence[str] | None = None, **kwargs: Any) -> list[EventType]:
    """:func:`ask` for a response whose options (buttons) are worded in the domain."""
    question = make_question(expect, domain_buttons(domain, response, channel_of(tracker)), yes=yes, no=no,
                             keys=keys)
    return ask(dispatcher, response, question, **kwargs)


def reply_of(tracker: Tracker) -> Reply:
    """The latest user message as :func:`resolve` reads it."""
    latest = tracker.latest_message or {}
    intent = latest.get("intent") or {}
    entities = tuple((str(e.get("entity")), str(e.get("value"))) for e in latest.get("entities") or ()
                     if e.get("entity") and e.get("value") is not None)
    return Reply(text=normalize(str(latest.get("text") or "")), intent=str(intent.get("name") or ""),
                 confidence=float(intent.get("confidence") or 0.0), entities=entities)


def replace_reply(tracker: Tracker, text: str, parse_data: Mapping[str, Any]) -> list[EventType]:
    """Events that put ``text`` (with ``parse_data``) in place of the latest user message.

    The message is reverted and a new one logged after ``action_listen``, keeping the
    original's channel and metadata, so the dialogue continues exactly as if the citizen
    had sent ``text`` (Rasa runs its slot extraction on it again).
    """
    original = tracker.get_last_event_for("user") or {}
    event = UserUttered(text, parse_data=dict(parse_data), input_channel=original.get("input_channel"))
    if original.get("metadata"):
        event["metadata"] = original["metadata"]
    return [UserUtteranceReverted(), SlotSet(SLOT, None), ActionExecuted("action_listen"), event]


def payload_parse(payload: str) -> dict[str, Any] | None:
    """Rasa's parse of a button payload (intent with confidence 1, entities), or None."""
    parsed = parse_payload(payload)
    if parsed is None:
        return None
    intent, values = parsed
    entities = [{"entity": k, "value": v, "start": 0, "end": 0} for k, v in values.items()]
    return {"text": payload, "intent": {"name": intent, "confidence": 1.0},
            "intent_ranking": [{"name": intent, "confidence": 1.0}], "entities": entities}


class ActionResolveReply(CitizenAction):
    """Reads the citizen's reply against the pending closed question.

    A chosen option replaces the reply with its payload (as if its button had been
    pressed); a "no" to a proposal asks to rephrase and offers a person or a message for
    the department; a "yes" that does not say which option asks to pick one; anything
    else is handed on unchanged. The question is cleared in every case but the last two,
    which ask a new one.
    """

    def name(self) -> str:
        return "action_resolve_reply"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        question = ClosedQuestion.from_slot(tracker.get_slot(SLOT))
        latest = dict(tracker.latest_message or {})
        if question is None:
            return replace_reply(tracker, str(latest.get("text") or ""), latest)
        resolution = resolve(question, reply_of(tracker))
        if resolution.kind == "option" and resolution.payload:
            parse = payload_parse(resolution.payload)
            if parse is not None:
                return replace_reply(tracker, resolution.payload, parse)
        if resolution.kind == "rephrase":
            return ask_from_domain(dispatcher, tracker, domain, "utter_rephrase_offer", EXPECT_CHOICE, no="/deny")
        if resolution.kind == "unclear":
            buttons = [{"title": o.title, "payload": o.payload} for o in question.options]
            return ask(dispatcher, "utter_choose_one", question, buttons=buttons)
        return replace_reply(tracker, str(latest.get("text") or ""), latest)
