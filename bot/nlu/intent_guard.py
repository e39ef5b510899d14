"""Send a long message to a substantive intent when the classifier gave up or heard a greeting.

A citizen's letter of several sentences is never a bare greeting or goodbye, and a long message
the classifier is unsure about (``nlu_fallback``) is still a request: the guide search answers it
or says honestly that it has no guide and offers a person. When the final intent is one of
``reroute`` for a message with at least ``min_content`` characters of content (CJK characters,
letters, digits; a salutation blanked by ``SalutationBlanker`` does not count), this component,
placed after ``FallbackClassifier``, takes the best-ranked substantive intent instead (a guide, a
complaint, a person, a booking task, or the status lookup when the message carries the entity it
needs, see ``needs_entity``), else ``default``. A letter of ``min_content_long`` characters is not
a thank-you, a yes or no, a slot answer, a rating or small talk out of scope either
(``reroute_long``): a letter that long is a citizen's request or a case for a department. Short messages are
never touched, so "你好", "在吗", "谢谢，材料我截图了" and the answers to form questions keep their
intents.

A message that is nothing but a tracking number (an entity of ``bare_entity``: an application
number or a case's TS number, e.g. texted back as a reply notice invites) is that entity's
intent (the status lookup) whatever the classifier made of its random digits.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.base import MessageRewriter

_CONTENT_RE = re.compile(r"[\u3400-\u9fff0-9a-zA-Z]")


def content_length(text: str) -> int:
    """Characters that carry content: CJK, letters, digits."""
    return len(_CONTENT_RE.findall(text or ""))


def bare_entity_intent(text: str, entities: List[Dict[Text, Any]], bare: Dict[Text, Text]) -> Text | None:
    """The intent of ``bare`` for a message whose whole content is one such entity, else None."""
    for e in entities:
        intent = bare.get(e.get("entity", ""))
        start, end = e.get("start"), e.get("end")
        if intent and isinstance(start, int) and isinstance(end, int) and content_length(text[start:end]) > 0 \
                and content_length(text[:start]) + content_length(text[end:]) == 0:
            return intent
    return None


def guarded_intent(text: str, intent: Dict[Text, Any], ranking: List[Dict[Text, Any]], entities: List[Dict[Text, Any]],
                   config: Dict[Text, Any]) -> Dict[Text, Any] | None:
    """The intent that replaces ``intent`` for this message, or None to keep it."""
    bare = bare_entity_intent(text, entities, config.get("bare_entity") or {})
    if bare is not None:
        return None if intent.get("name") == bare else {"name": bare, "confidence": 1.0}
    length = content_length(text)
    if length < config["min_content"]:
        return None
    kinds = {e.get("entity") for e in entities}
    needs = config["needs_entity"]

    def substantive(name: Text) -> bool:
        if name not in config["substantive"]:
            return False
        return name not in needs or needs[name] in kinds

    name = intent.get("name", "")
    reroutable = name in config["reroute"] or (name in config["reroute_long"] and length >= config["min_content_long"])
    if not reroutable and (name not in needs or needs[name] in kinds):
        return None
    for candidate in ranking:
        if substantive(candidate.get("name", "")):
            return {"name": candidate["name"], "confidence": candidate.get("confidence", 0.0)}
    return {"name": config["default"], "confidence": 0.0}


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class IntentGuard(MessageRewriter):
    """Replaces a short-reply or unsupported intent on long messages (see the module docstring)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "min_content": 20,
            "reroute": ["greet", "goodbye", "nlu_fallback"],
            "min_content_long": 60,
            "reroute_long": ["thank", "affirm", "deny", "inform", "rate", "out_of_scope"],
            "substantive": ["ask_service_guide", "complain", "request_human", "book_appointment",
                            "cancel_appointment", "query_appointment", "check_application_status"],
            "needs_entity": {"check_application_status": "application_no"},
            "bare_entity": {"application_no": "check_application_status"},
            "default": "ask_service_guide",
        }

    def rewrite(self, message: Message) -> None:
        """Replace the intent when :func:`guarded_intent` says so."""
        intent = message.get(INTENT) or {}
        ranking = message.get(INTENT_RANKING_KEY) or []
        replacement = guarded_intent(message.get(TEXT) or "", intent, ranking, message.get(ENTITIES) or [],
                                     self.config)
        if replacement is not None:
            message.set(INTENT, replacement, add_to_output=True)
