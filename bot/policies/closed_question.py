"""The citizen's next message is read against the bot's closed question first.

When the bot asks a closed question ("您是想了解…吗？", "which one?", "确认预约吗？",
the rating, the offer of a person), the asking action keeps the question and its options
on the conversation in the slot ``closed_question``. For the very next user message this
policy predicts the resolver action (``action_resolve_reply``), even inside a form, when
the reply can be an answer: an answer-like intent (yes, no, a bare value, a rating, a
service name, or not understood) or a text that names one of the options ("确认预约"
may be read as a new booking by the NLU). The resolver clears the slot and either answers
from the options (it replaces the reply with the chosen option's payload, as if the
button had been pressed, so the usual rules and forms continue) or hands the message on
unchanged. Any other message (a greeting, a complaint, a booking) is not an answer: the
policy only attaches an event that clears the question, so it expires after one reply,
and the usual policies decide. After the resolver, this policy predicts ``action_listen``
(the resolver has either spoken or put a user message on the tracker). Rules could not do
this: they cannot match "any intent", nor expire the question.

The prediction is marked as not using user input, like Rasa's own loop predictions,
so it also takes precedence over an active form; its priority is above RulePolicy's.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Dict, List, Optional, Sequence, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

SLOT = "closed_question"
RESOLVER = "action_resolve_reply"
# Intents a reply to a closed question may be classified as (nlu_fallback: "嗯", "啱啱").
ANSWER_INTENTS = ("affirm", "deny", "inform", "rate", "nlu_fallback", "ask_service_guide")
EXPIRE = "expire"
# RulePolicy has priority 6 (rasa.core.constants.RULE_POLICY_PRIORITY).
PRIORITY = 7


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class ClosedQuestionPolicy(Policy):
    """Predicts the resolver after a user message while a closed question is pending."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Priority above RulePolicy; the slot and the resolver by name."""
        return {"priority": PRIORITY, "slot": SLOT, "resolver": RESOLVER, "answer_intents": list(ANSWER_INTENTS)}

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        """Nothing to learn: the policy reads a slot."""
        with self._model_storage.write_to(self._resource) as path:
            (path / "closed_question_policy.txt").write_text("stateless\n", encoding="utf-8")
        return self._resource

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: Optional[Dict[Text, Any]] = None,
                                     **kwargs: Any) -> PolicyPrediction:
        """The resolver after a user message with a pending question; listen after the resolver."""
        probabilities = self._default_predictions(domain)
        resolver = str(self.config.get("resolver") or RESOLVER)
        slot = str(self.config.get("slot") or SLOT)
        action = next_action(tracker, slot, resolver, self.config.get("answer_intents") or ANSWER_INTENTS)
        if action == EXPIRE:  # not an answer: the question expires, the other policies decide
            return self._prediction(probabilities, events=[SlotSet(slot, None)])
        if action is None or action not in domain.action_names_or_texts:
            return self._prediction(probabilities)
        probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities, is_no_user_prediction=True)


def next_action(tracker: DialogueStateTracker, slot: str, resolver: str,
                answer_intents: Sequence[Text] = ANSWER_INTENTS) -> Optional[Text]:
    """What the policy predicts for ``tracker``.

    Returns the resolver, ``action_listen``, :data:`EXPIRE` (clear the question, predict
    nothing) or None (no opinion).
    """
    latest = tracker.latest_action_name
    if latest == resolver:
        return ACTION_LISTEN_NAME
    question = tracker.get_slot(slot)
    message = tracker.latest_message
    if latest != ACTION_LISTEN_NAME or not question or not message or not message.intent:
        return None
    if message.intent.get("name") in answer_intents or names_an_option(question, message.text or ""):
        return resolver
    return EXPIRE


def _fold(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def names_an_option(question: Any, text: str) -> bool:
    """Whether ``text`` is or contains the title of one of the question's options."""
    said = _fold(text)
    if not said or not isinstance(question, dict):
        return False
    for option in question.get("options") or ():
        title = _fold(str(option.get("title") or "")) if isinstance(option, dict) else ""
        if len(title) >= 2 and title in said:
            return True
    return False
