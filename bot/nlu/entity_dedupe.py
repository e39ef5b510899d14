"""Keep one entity per (type, span) when several extractors found the same thing.

The pipeline runs a learned extractor (DIET or CRF) beside ``RegexEntityExtractor`` for
numbers and codes; both often find the same phone number or reference. Downstream, a
duplicate looks like two values for one slot. This component runs after the synonym
mapper and keeps, for each (entity, start, end), the regex extractor's result (exact
by construction), else the first one found. A number or code the regex extractor found is one
entity: any other extractor's entity overlapping its span (a piece of it, or the same digits under
another type) is dropped. Other overlapping spans are left alone: the actions validate every value.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text, Tuple

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import ENTITIES
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.base import MessageRewriter

PREFERRED_EXTRACTOR = "RegexEntityExtractor"


def dedupe_entities(entities: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    """The entities with one per (entity, start, end), preferring the regex extractor's."""
    chosen: Dict[Tuple[Any, Any, Any], Dict[Text, Any]] = {}
    order: List[Tuple[Any, Any, Any]] = []
    for entity in entities:
        key = (entity.get("entity"), entity.get("start"), entity.get("end"))
        if key not in chosen:
            chosen[key] = entity
            order.append(key)
        elif entity.get("extractor") == PREFERRED_EXTRACTOR and chosen[key].get("extractor") != PREFERRED_EXTRACTOR:
            chosen[key] = entity
    kept = [chosen[k] for k in order]
    exact = [(e["start"], e["end"]) for e in kept
             if e.get("extractor") == PREFERRED_EXTRACTOR and isinstance(e.get("start"), int)
             and isinstance(e.get("end"), int)]
    kept = [e for e in kept if e.get("extractor") == PREFERRED_EXTRACTOR or not _overlaps(e, exact)]
    return _merge_adjacent(kept)


def _overlaps(entity: Dict[Text, Any], spans: List[Tuple[int, int]]) -> bool:
    start, end = entity.get("start"), entity.get("end")
    if not (isinstance(start, int) and isinstance(end, int)):
        return False
    return any(start < s_end and s_start < end for s_start, s_end in spans)


def _merge_adjacent(entities: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    """Join touching spans of one type that map to one value (a CRF may split 港澳|通行證)."""
    out: List[Dict[Text, Any]] = []
    for entity in sorted(entities, key=lambda e: (e.get("start") or 0, e.get("end") or 0)):
        prev = out[-1] if out else None
        if (prev is not None and prev.get("entity") == entity.get("entity")
                and prev.get("value") == entity.get("value") and prev.get("end") == entity.get("start")
                and prev.get("extractor") == entity.get("extractor")
                and isinstance(prev.get("end"), int)):
            prev["end"] = entity["end"]
            continue
        out.append(entity)
    return out


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class EntityDeduplicator(MessageRewriter):
    """Removes duplicate entities found by more than one extractor."""

    def rewrite(self, message: Message) -> None:
        """Keep one entity per span (see :func:`dedupe_entities`)."""
        entities = message.get(ENTITIES)
        if entities:
            message.set(ENTITIES, dedupe_entities(entities), add_to_output=True)
