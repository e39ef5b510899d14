"""Smoke test of the live core through the web chat relay."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


def test_a_guide_question_is_answered_from_the_knowledge_base(live_core):
    messages = live_core.say("e2e-smoke-1", "办护照要带什么材料")
    text = "\n".join(m.get("text", "") for m in messages)
    assert "护照" in text, messages
