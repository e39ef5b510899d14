"""Names given to the booking form, through the real CI model and the real form validator.

Surnames include calendar words (周, 年, 季, 时, 春, 秋 …) and given names include dictionary
words (测试, 国庆 …) that jieba cuts off. Every answer to "your name?" must give the whole name
and leave the day and time already chosen untouched.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.appointment import ValidateBookingForm
from tests.domain_files import domain as load_domain

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏", "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "段", "雷", "侯", "龙", "史", "黎", "贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "武", "戴", "莫", "孔", "向", "汤", "年", "季", "时", "春", "秋", "冬", "日", "月", "晨", "岁", "欧阳", "司马", "诸葛", "上官"]
GIVEN = ["敏", "伟", "芳", "静", "磊", "军", "测试", "秀英", "国庆", "建国", "晓燕", "志强", "天明", "春花", "明月"]
SHAPES = ("{}", "我叫{}", "{}。", "姓名：{}")
PREVIOUS = {"service": "passport", "center": "c1", "booking_date": "2026-12-08", "booking_time": "10:00"}


@functools.cache
def domain() -> dict[str, Any]:
    return load_domain()


def slot_mappings() -> dict[str, list[dict[str, Any]]]:
    slots = domain()["slots"]
    return {name: slots[name]["mappings"] for name in ("person_name", "booking_date", "booking_time")}


def extracted(parse: dict[str, Any], mappings: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The slots Rasa's slot extraction sets from this parse while the form asks for the name."""
    out: dict[str, Any] = {}
    intent = parse["intent"].get("name")
    for slot, rules in mappings.items():
        for rule in rules:
            if rule["type"] == "from_entity":
                values = [e["value"] for e in parse["entities"] if e["entity"] == rule["entity"]]
                if values:
                    out[slot] = values[0]
                    break
            elif (rule["type"] == "from_text" and intent not in rule.get("not_intent", [])
                  and any(c.get("requested_slot") in (None, "person_name") for c in rule.get("conditions", [{}]))):
                out[slot] = parse["text"]
                break
    return out


def answer(parse: dict[str, Any], said: str, set_now: dict[str, Any],
           previous: dict[str, Any] = PREVIOUS) -> tuple[list[dict], list[str]]:
    """Run the booking form's validation on the name answer; (events, response names)."""
    events: list[dict[str, Any]] = [{"event": "slot", "name": k, "value": v} for k, v in previous.items()]
    events.append({"event": "user", "text": said, "parse_data": parse, "input_channel": "webchat"})
    events += [{"event": "slot", "name": k, "value": v} for k, v in set_now.items()]
    slots = {**previous, "requested_slot": "person_name", **set_now}
    latest = {**parse, "text": said}
    tracker = Tracker(sender_id="names", slots=slots, latest_message=latest, events=events, paused=False,
                      followup_action=None, active_loop={"name": "booking_form"}, latest_action_name="action_listen")
    dispatcher = CollectingDispatcher()
    result = asyncio.run(ValidateBookingForm(stores=object()).run(dispatcher, tracker, domain()))  # type: ignore[arg-type]
    return result, [m.get("response") for m in dispatcher.messages]


def test_common_names_are_taken_whole_and_never_move_the_booking(nlu):
    rng_names = [(s, g) for s in SURNAMES for g in GIVEN]
    texts = [SHAPES[i % len(SHAPES)].format(s + g) for i, (s, g) in enumerate(rng_names)]
    mappings = slot_mappings()
    failures = []
    for (surname, given), text, parse in zip(rng_names, texts, nlu.parse(texts), strict=False):
        events, said = answer(parse, text, extracted(parse, mappings))
        slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
        ok = (slots.get("person_name") == surname + given and said == []
              and slots.get("booking_date", PREVIOUS["booking_date"]) == PREVIOUS["booking_date"]
              and slots.get("booking_time", PREVIOUS["booking_time"]) == PREVIOUS["booking_time"])
        if not ok:
            failures.append((text, parse["intent"].get("name"), parse["entities"], slots, said))
    assert not failures, f"{len(failures)} of {len(texts)} names failed, e.g. {failures[:4]}"


def test_courtesies_are_not_names_and_a_stuck_form_offers_a_way_out(nlu):
    replies = []
    for text in ("谢谢", "好的"):
        parse = nlu.one(text)
        set_now = extracted(parse, slot_mappings())
        events, said = answer(parse, text, set_now)
        replies.append(said)
        assert {e["name"]: e["value"] for e in events if e.get("event") == "slot"}.get("person_name") is None
    assert "utter_form_stuck" not in replies[0]  # the first failed try only asks again


def test_second_failed_try_offers_a_person_or_a_way_out():
    parse = {"text": "谢谢", "intent": {"name": "thank", "confidence": 1.0}, "entities": []}
    first, said = answer(parse, "谢谢", {"person_name": "谢谢"})
    retries = {e["name"]: e["value"] for e in first if e.get("event") == "slot"}["form_retries"]
    assert retries == {"slot": "person_name", "count": 1} and "utter_form_stuck" not in said
    _second, said = answer(parse, "谢谢", {"person_name": "谢谢"}, {**PREVIOUS, "form_retries": retries})
    assert "utter_form_stuck" in said
    buttons = [b["payload"] for b in domain()["responses"]["utter_form_stuck"][0]["buttons"]]
    assert buttons == ["/request_human", "/deny"]


def test_a_day_tagged_as_a_name_while_the_day_is_asked_keeps_the_name():
    parse = {"text": "周三", "intent": {"name": "inform", "confidence": 0.9},
             "entities": [{"entity": "person_name", "start": 0, "end": 2, "value": "周三"}]}
    previous = {**PREVIOUS, "person_name": "张伟", "requested_slot": "booking_date"}
    events = [{"event": "slot", "name": k, "value": v} for k, v in previous.items()]
    events.append({"event": "user", "text": "周三", "parse_data": parse, "input_channel": "webchat"})
    events.append({"event": "slot", "name": "person_name", "value": "周三"})
    tracker = Tracker(sender_id="names", slots={**previous, "person_name": "周三"}, latest_message=parse,
                      events=events, paused=False, followup_action=None, active_loop={"name": "booking_form"},
                      latest_action_name="action_listen")
    dispatcher = CollectingDispatcher()
    result = asyncio.run(ValidateBookingForm(stores=object()).validate_person_name(  # type: ignore[arg-type]
        "周三", dispatcher, tracker, domain()))
    assert result == {"person_name": "张伟"} and dispatcher.messages == []
