"""The citizen's next message is read against the bot's closed question first.

When the bot asks a closed question ("您是想了解…吗？", "which one?", "确认预约吗？",
the rating, the offer of a person), the asking action keeps the question and its options
on the conversation in the slot ``closed_question``. This policy then predicts the
resolver action (``action_resolve_reply``) for the very next user message, whatever
its intent and even inside a form: rules cannot match "any intent", and a pending
question must expire after one reply. The resolver clears the slot and either answers
from the options (it replaces the reply with the chosen option's payload, as if the
button had been pressed, so the usual rules and forms continue) or hands the message
on unchanged. After the resolver, this policy predicts ``action_listen`` (the resolver
has either spoken or put a user message on the tracker).

The prediction is marked as not using user input, like Rasa's own loop predictions,
so it also takes precedence over an active form; its priority is above RulePolicy's.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

SLOT = "closed_question"
RESOLVER = "action_resolve_reply"
# RulePolicy has priority 6 (rasa.core.constants.RULE_POLICY_PRIORITY).
PRIORITY = 7


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class ClosedQuestionPolicy(Policy):
    """Predicts the resolver after a user message while a closed question is pending."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Priority above RulePolicy; the slot and the resolver by name."""
        return {"priority": PRIORITY, "slot": SLOT, "resolver": RESOLVER}

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
        action = next_action(tracker, str(self.config.get("slot") or SLOT), resolver)
        if action is None or action not in domain.action_names_or_texts:
            return self._prediction(probabilities)
        probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities, is_no_user_prediction=True)


def next_action(tracker: DialogueStateTracker, slot: str, resolver: str) -> Optional[Text]:
    """What the policy predicts for ``tracker`` (None: it has no opinion)."""
    latest = tracker.latest_action_name
    if latest == resolver:
        return ACTION_LISTEN_NAME
    if latest == ACTION_LISTEN_NAME and tracker.latest_message and tracker.latest_message.intent \
            and tracker.get_slot(slot):
        return resolver
    return None
