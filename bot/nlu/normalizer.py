"""Normalise Chinese text before tokenisation: full/half width, Traditional → Simplified.

Runs first in the pipeline, on training data and at inference, using the project's
single normalisation function (``common.textnorm.normalize_aligned``), which keeps
the text's length so entity annotations stay aligned. Chinese numerals are untouched.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.base import TrainingDataRewriter
from common.textnorm import normalize_aligned


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class ChineseNormalizer(TrainingDataRewriter):
    """Rewrites each message's text in place (same length, Simplified, half-width, lower-case)."""

    def rewrite(self, message: Message) -> None:
        """Normalise the text and keep entity values equal to their (normalised) spans."""
        text = message.get(TEXT)
        if not isinstance(text, str) or not text:
            return
        normalized = normalize_aligned(text)
        message.set(TEXT, normalized)
        # An annotation's value is its original surface text unless a synonym was given; keep
        # it equal to the normalised span, or the synonym mapper learns 后天 → 後天.
        for entity in message.get(ENTITIES) or []:
            start, end = entity.get(ENTITY_ATTRIBUTE_START), entity.get(ENTITY_ATTRIBUTE_END)
            if not (isinstance(start, int) and isinstance(end, int)):
                continue
            if entity.get(ENTITY_ATTRIBUTE_VALUE) == text[start:end]:
                entity[ENTITY_ATTRIBUTE_VALUE] = normalized[start:end]

