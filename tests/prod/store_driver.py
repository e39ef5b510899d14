"""Drive bot.tracker_store.MaskingSQLTrackerStore inside the Rasa venv (run by tests/prod).

Usage: ``.venv-rasa/bin/python tests/prod/store_driver.py save|load|retain ARGS_JSON``.
``save`` stores a conversation full of personal data; ``load`` prints the tracker read
back (slots and event texts); ``retain`` deletes conversations older than N days.
Everything is printed as one JSON line.
"""

import asyncio
import json
import sys
import time

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import MaskingSQLTrackerStore

DOMAIN = Domain.from_dict({
    "intents": ["inform"],
    "entities": ["phone"],
    "slots": {
        "phone": {"type": "text", "mappings": [{"type": "from_entity", "entity": "phone"}]},
        "person_name": {"type": "text", "mappings": [{"type": "from_text"}]},
        "contact": {"type": "any", "mappings": [{"type": "from_text"}]},
    },
})


def store(args):
    return MaskingSQLTrackerStore(domain=DOMAIN, **args["store"])


async def save(args):
    s = store(args)
    sender = args["sender"]
    ts = args.get("timestamp")
    # A back-dated conversation must not get the store's fresh initial event.
    t = DialogueStateTracker(sender, DOMAIN.slots) if ts is not None else await s.get_or_create_tracker(sender)
    events = [
        UserUttered(args["text"], {"name": "inform", "confidence": 0.9},
                    [{"entity": "phone", "value": args["phone"], "start": 0, "end": 11}],
                    parse_data={"text": args["text"], "intent": {"name": "inform", "confidence": 0.9},
                                "entities": [{"entity": "phone", "value": args["phone"]}]},
                    input_channel="sms", metadata={"from": args["phone"]}),
        SlotSet("phone", args["phone"]),
        SlotSet("person_name", "陈小红"),
        SlotSet("contact", {"mail": args["email"], "id": args["id_number"]}),
        ActionExecuted("utter_confirm"),
        BotUttered(f"我们会联系 {args['email']}，身份证 {args['id_number']}", {"buttons": [
            {"title": f"确认 {args['phone']}", "payload": "/affirm"}]}),
    ]
    for e in events:
        t.update(e)
    if ts is not None:  # back-date the whole conversation (retention tests)
        for e in t.events:
            e.timestamp = ts
    await s.save(t)
    return {"saved": len(events)}


async def load(args):
    t = await store(args).retrieve(args["sender"])
    if t is None:
        return {"found": False}
    return {"found": True, "slots": {k: v for k, v in t.current_slot_values().items() if v is not None},
            "texts": [e.text for e in t.events if isinstance(e, (UserUttered, BotUttered))]}


async def turns(args):
    """``n`` turns as Rasa's processor runs them (read, append, save); the phone slot set on turn 2.

    ``new_session_at`` starts a new session before that turn. Returns what the last read gave.
    """
    s = store(args)
    sender, sizes = args["sender"], []
    for turn in range(args["n"]):
        t = await s.get_or_create_tracker(sender)
        sizes.append(len(t.events))
        if turn == args.get("new_session_at"):
            t.update(ActionExecuted("action_session_start"))
            t.update(SessionStarted())
            t.update(ActionExecuted("action_listen"))
        t.update(UserUttered(f"第{turn}句 {args['phone']}", {"name": "inform", "confidence": 0.9},
                             input_channel="webchat"))
        if turn == 2:
            t.update(SlotSet("phone", args["phone"]))
        t.update(ActionExecuted("utter_confirm"))
        t.update(BotUttered(f"回答{turn}"))
        t.update(ActionExecuted("action_listen"))
        await s.save(t)
    last = await s.retrieve(sender)
    full = await s.retrieve_full_tracker(sender)
    return {"sizes": sizes, "slots": {k: v for k, v in last.current_slot_values().items() if v is not None},
            "texts": [e.text for e in last.events if isinstance(e, UserUttered)],
            "full_users": sum(isinstance(e, UserUttered) for e in full.events)}


async def retain(args):
    return {"deleted": store(args).delete_conversations_older_than(args["days"], now=args.get("now", time.time()))}


if __name__ == "__main__":
    command, raw = sys.argv[1], sys.argv[2]
    print(json.dumps(asyncio.run({"save": save, "load": load, "retain": retain, "turns": turns}[command](json.loads(raw))),
                     ensure_ascii=False))
