"""Contracts between the Rasa core and the action server, by name."""

from __future__ import annotations

import ast
import re

import pytest

from tests.conftest import REPO
from tests.domain_files import domain

REGISTERED_CHANNELS = {"rest", "webchat", "sms", "voice", "mail", "telegram", "wechat"}


@pytest.fixture(scope="module")
def executor():
    from rasa_sdk.executor import ActionExecutor

    ex = ActionExecutor()
    ex.register_package("actions")
    return ex


def test_action_server_serves_exactly_the_domains_custom_actions(executor):
    assert set(executor.actions) == set(domain()["actions"])


def test_every_response_used_by_actions_exists():
    used = set()
    for path in (REPO / "actions").rglob("*.py"):
        used.update(re.findall(r'response="(utter_\w+)"', path.read_text(encoding="utf-8")))
    missing = used - set(domain()["responses"])
    assert used and missing == set()


def test_every_response_used_in_rules_and_stories_exists():
    import yaml

    used = set()
    for path in (REPO / "bot" / "data").rglob("*.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in (data.get("rules") or []) + (data.get("stories") or []):
            actions = (str(step.get("action", "")) for step in block.get("steps", []))
            used.update(a for a in actions if a.startswith("utter_"))
    assert used - set(domain()["responses"]) == set()


def test_every_required_slot_has_a_validator(executor):
    dom = domain()
    missing = []
    for form, spec in dom["forms"].items():
        action = executor.actions.get(f"validate_{form}")
        assert action is not None, f"validate_{form} is not served"
        owner = type(action.action) if hasattr(action, "action") else None
        cls = owner or _class_of(f"validate_{form}")
        for slot in spec["required_slots"]:
            if not hasattr(cls, f"validate_{slot}"):
                missing.append(f"{form}.{slot}")
    assert missing == []


def _class_of(action_name: str) -> type:
    from rasa_sdk import Action
    from rasa_sdk.utils import all_subclasses

    for cls in all_subclasses(Action):
        try:
            if not getattr(cls, "__abstractmethods__", None) and cls().name() == action_name:
                return cls
        except Exception:
            continue
    raise LookupError(action_name)


def test_every_slot_asked_by_a_form_has_a_question():
    dom = domain()
    responses, actions = set(dom["responses"]), set(dom["actions"])
    missing = []
    for form, spec in dom["forms"].items():
        for slot in spec["required_slots"]:
            options = {f"utter_ask_{form}_{slot}", f"utter_ask_{slot}"}
            if not options & responses and not {f"action_ask_{form}_{slot}", f"action_ask_{slot}"} & actions:
                missing.append(f"{form}.{slot}")
    assert missing == []


def test_channel_variations_name_registered_channels():
    import yaml

    creds = yaml.safe_load((REPO / "bot" / "credentials.yml").read_text(encoding="utf-8"))
    connectors = {"rest"} | {name.rsplit(".", 1)[-1].removesuffix("Input").lower() for name in creds if "." in name}
    assert connectors == REGISTERED_CHANNELS
    used = {v["channel"] for variants in domain()["responses"].values() for v in variants if "channel" in v}
    assert used <= REGISTERED_CHANNELS


def test_actions_never_build_user_text_with_fstrings_in_utter_message():
    """Wording lives in the domain: utter_message is only called with a response name."""
    offenders = []
    for path in (REPO / "actions").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            is_utter = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "utter_message"
            if is_utter and any(kw.arg == "text" for kw in node.keywords):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


# The hotline switches to keypad entry on the structured hint a question carries
# ({"expect": "digits"|"phone", "length": N}), never on its wording: every question for a
# number carries one, in every channel variation, and the voice renderer reads it.
NUMBER_QUESTIONS = {
    "utter_ask_application_no": {"expect": "digits", "length": 12},
    "utter_invalid_application_no": {"expect": "digits", "length": 12},
    "utter_ask_verify_last4": {"expect": "digits", "length": 4, "allow_x": True},
    "utter_invalid_last4": {"expect": "digits", "length": 4, "allow_x": True},
    "utter_ask_booking_ref": {"expect": "digits", "length": 6, "prefix": "YY"},
    "utter_invalid_booking_ref": {"expect": "digits", "length": 6, "prefix": "YY"},
    "utter_ask_phone": {"expect": "phone", "length": 11},
    "utter_ask_booking_form_phone": {"expect": "phone", "length": 11},
    "utter_invalid_phone": {"expect": "phone", "length": 11},
}


@pytest.mark.parametrize(("response", "hint"), sorted(NUMBER_QUESTIONS.items()))
def test_every_number_question_carries_the_hint_the_voice_channel_reads(response, hint):
    from channels.core import BotMessage
    from channels.voice.render import prepare
    from tests.domain_files import domain

    variants = domain()["responses"][response]
    assert variants, response
    for variant in variants:
        assert variant.get("custom") == hint, (response, variant)
        number = prepare([BotMessage(text=variant["text"]), BotMessage(custom=variant["custom"])]).number
        assert number is not None and number.length == hint["length"]


@pytest.mark.parametrize("response", sorted(NUMBER_QUESTIONS))
def test_rewording_a_number_question_cannot_break_keypad_entry(response):
    """Staff may reword any question: keypad entry follows the hint, and wording alone never switches it."""
    from channels.core import BotMessage
    from channels.voice.render import prepare
    from tests.domain_files import domain

    variant = domain()["responses"][response][0]
    reworded = [BotMessage(text="麻烦您告诉我这个信息。"), BotMessage(custom=variant["custom"])]
    assert prepare(reworded).number is not None
    assert prepare([BotMessage(text=variant["text"])]).number is None  # the old wording, without its hint


def test_every_closed_question_response_exists_with_options_for_its_channels():
    """The responses the actions ask closed questions with, and the resolver's own, have options everywhere."""
    from tests.domain_files import domain

    responses = domain()["responses"]
    for name in ("utter_offer_human", "utter_confirm_booking", "utter_ask_rating", "utter_rephrase_offer",
                 "utter_offer_leave_message", "utter_ask_case_rating"):
        assert all(v.get("buttons") for v in responses[name]), name
    for name in ("utter_did_you_mean", "utter_which_service", "utter_choose_one"):
        assert name in responses
