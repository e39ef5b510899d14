"""The FAQ action's decision tree as a plain function (actions/services/faq_logic.plan_answer)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from actions.services.faq_logic import Thresholds, plan_answer

T = Thresholds(answer=0.5, suggest=0.2, ambiguity_margin=0.15, low_confidence=0.65, follow_up_coverage=0.34,
               short_unclear_chars=4)


@dataclass(frozen=True)
class Hit:
    service_id: str | None
    faq_id: int | None
    confidence: float


def plan(**kw):
    args = {"intent": "ask_service_guide", "named": None, "context": None, "topic": None, "text_chars": 10,
            "hits": (), "context_hits": (), "thresholds": T, **kw}
    return plan_answer(**args)


def test_a_bare_value_with_nothing_asked_is_not_a_question():
    assert plan(intent="inform").kind == "how_can_help"
    assert plan(intent="inform", named="passport").kind == "within"


def test_a_named_service_is_answered_within_it():
    assert plan(named="passport", hits=(Hit("id_card", 1, 0.9),)) == plan_answer(
        intent="ask_service_guide", named="passport", context=None, topic=None, text_chars=10, hits=(),
        context_hits=(), thresholds=T)


def test_a_follow_up_about_a_topic_stays_with_the_service_in_context():
    assert plan(context="passport", topic="fees").service_id == "passport"
    follow = plan(context="passport", context_hits=(Hit("passport", 7, 0.5),))
    assert (follow.kind, follow.faq_id) == ("faq", 7)


@pytest.mark.parametrize(("hits", "kind"), [
    ((Hit("passport", 3, 0.9),), "faq"),
    ((Hit("passport", None, 0.9),), "within"),
    ((Hit("passport", 3, 0.45), Hit("id_card", 4, 0.4)), "choose"),
    ((Hit("passport", 3, 0.3),), "choose"),
    ((Hit("passport", 3, 0.1),), "no_answer"),
])
def test_the_search_decides_between_answer_choice_and_no_answer(hits, kind):
    assert plan(hits=hits).kind == kind


def test_low_confidence_answers_and_misses_are_recorded_for_staff():
    assert plan(hits=(Hit("passport", 3, 0.55),)).record == "low_confidence"
    assert plan(hits=(Hit("passport", 3, 0.9),)).record is None
    missed = plan(hits=(Hit("passport", 3, 0.1),))
    assert missed.record == "no_match" and missed.record_hit.service_id == "passport"
    assert plan(text_chars=2).kind == "not_understood"
