"""Compare bot.rasa_speedups' action-result check with Rasa's own (run in the Rasa venv).

Usage: ``.venv-rasa/bin/python tests/model/speedups_driver.py``. Builds action server
answers from every event type Rasa knows (as the action server sends them) and from
thousands of mutations of them (a field of the wrong type, an unknown or missing event
type, extra keys, a non-list, a non-dict), and checks each with the original
``RemoteAction._validate_action_result`` and with the installed shortcut. Prints one JSON
line: how many answers were compared, how many each found valid, and the disagreements.
"""

import json
import random

from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core import events as ev

ORIGINAL = RemoteAction._validate_action_result

SAMPLES = [
    ev.UserUttered("我想预约", {"name": "book_appointment", "confidence": 0.9},
                   [{"entity": "phone", "value": "13912345678", "start": 0, "end": 11}],
                   parse_data={"text": "我想预约", "intent": {"name": "book_appointment", "confidence": 0.9}}),
    ev.ActionExecuted("action_listen"), ev.ActionExecuted("utter_greet", policy="RulePolicy", confidence=1.0),
    ev.SlotSet("phone", "13912345678"), ev.SlotSet("person_name", None), ev.SlotSet("booking", {"ref": "BK1"}),
    ev.EntitiesAdded([{"entity": "date", "value": "明天", "start": 0, "end": 2}]),
    ev.ReminderScheduled("EXTERNAL_reminder", __import__("datetime").datetime(2026, 12, 4, 9, 0)),
    ev.ReminderCancelled(name="r1"), ev.ActionExecutionRejected("booking_form"),
    ev.ActiveLoop("booking_form"), ev.ActiveLoop(None), ev.LoopInterrupted(True), ev.AllSlotsReset(),
    ev.ConversationResumed(), ev.ConversationPaused(), ev.FollowupAction("utter_ask_phone"), ev.StoryExported(),
    ev.Restarted(), ev.ActionReverted(), ev.UserUtteranceReverted(), ev.SessionStarted(),
    ev.BotUttered("您好", {"buttons": [{"title": "是", "payload": "/affirm"}]}, {"utter_action": "utter_greet"}),
    ev.AgentUttered("agent text"),
]
WRONG = [None, 123, 1.5, "x", [], {}, True, [1], {"a": 1}]


def verdict(fn, result):
    try:
        return bool(fn(RemoteAction("action_x", None), result))
    except ValidationError as exc:
        return f"error: {exc.message}"


def answers(rng):
    dicts = [e.as_dict() for e in SAMPLES]
    dicts.append({"event": "form_validation", "validate": False})
    dicts.append({"event": "form", "name": "booking_form"})
    dicts.append({"event": "user_featurization", "use_text_for_featurization": True})
    yield {"events": dicts, "responses": [{"text": "好的"}]}
    yield {"events": []}
    yield {}
    yield {"responses": [{"text": "x", "buttons": []}]}
    for bad in WRONG:
        yield {"events": bad}
        yield {"responses": bad}
        yield {"events": [bad]}
        yield bad
    for d in dicts:
        yield {"events": [d]}
        yield {"events": [{k: v for k, v in d.items() if k != "event"}]}
        yield {"events": [{**d, "event": "no_such_event"}]}
        yield {"events": [{**d, "extra_key": 1}]}
        for key in d:
            for bad in WRONG:
                yield {"events": [{**d, key: bad}]}
    for _ in range(1500):  # mixtures: several events, one of them possibly broken
        chosen = [dict(rng.choice(dicts)) for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.5:
            victim = rng.choice(chosen)
            victim[rng.choice(list(victim))] = rng.choice(WRONG)
        yield {"events": chosen, "responses": [{"text": "好"}] if rng.random() < 0.5 else [rng.choice(WRONG)]}


def main():
    from bot import rasa_speedups

    rasa_speedups._cache_schema_checks()  # the same verdicts, without re-checking the schema each call
    rng = random.Random(7)
    cases = list(answers(rng))
    before = [verdict(ORIGINAL, json.loads(json.dumps(c, default=str))) for c in cases]
    rasa_speedups.install()
    patched = RemoteAction._validate_action_result
    assert patched is not ORIGINAL, "the shortcut was not installed"
    after = [verdict(patched, json.loads(json.dumps(c, default=str))) for c in cases]
    differ = [{"case": c, "rasa": b, "shortcut": a} for c, b, a in zip(cases, before, after, strict=True) if a != b]
    print(json.dumps({"compared": len(cases), "valid": sum(b is True for b in before),
                      "differ": differ[:5], "n_differ": len(differ)}, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
