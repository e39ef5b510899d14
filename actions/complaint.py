"""Complaints and suggestions (市长信箱 / 12345 style): collect what, where, contact; open a case."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, CitizenFormValidation, channel_of, sender_of
from actions.case_desk import conversation_excerpt, desk_of, due_date, optional_phone, reply_address
from actions.rating import ask_rating
from actions.services.letters import find_location, find_phone
from actions.services.people import fold, spoken_digits
from actions.wording import word
from casework.cases import detect_kind
from common.pii import mask_pii
from common.status import CASE_KIND_LABELS, CaseKind

MIN_DESCRIPTION_CHARS = 8
# Channels whose messages are letters: the complaint is taken in one turn (see validate_complaint_text).
LETTER_CHANNELS = frozenset({"mail"})
GENERIC = ("我要投诉", "投诉", "我想投诉", "我要举报", "反映问题", "我有意见", "提建议", "我要提建议")
CATEGORIES = {
    "噪音": ("噪音", "吵", "扰民", "施工", "装修"),
    "环境卫生": ("垃圾", "臭", "污水", "卫生", "油烟"),
    "交通": ("停车", "占道", "红绿灯", "公交", "交通", "堵"),
    "市政设施": ("路灯", "井盖", "路面", "漏水", "停水", "停电"),
    "政务服务": ("窗口", "态度", "办事", "工作人员", "排队"),
    "消费维权": ("商家", "退款", "消费", "价格"),
}


def categorize(text: str) -> str:
    """A coarse category for routing, from cue words."""
    for category, cues in CATEGORIES.items():
        if any(cue in text for cue in cues):
            return category
    return "其他"


class ValidateComplaintForm(CitizenFormValidation):
    """Validates what happened, where, and an optional contact phone."""

    def name(self) -> str:
        return "validate_complaint_form"

    async def validate_complaint_text(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> dict[str, Any]:
        text = fold(str(value or ""))
        if text.startswith("/"):  # the "给相关部门留言" option: nothing described yet, the form asks
            return {"complaint_text": None}
        if len(text) < MIN_DESCRIPTION_CHARS or text.rstrip("。！!") in GENERIC:
            dispatcher.utter_message(response="utter_complaint_too_short")
            return {"complaint_text": None}
        result: dict[str, Any] = {"complaint_text": text[:2000]}
        if channel_of(tracker) in LETTER_CHANNELS:
            # A letter cannot answer "where?" and "your phone?" in this turn: take what it says,
            # so the reply to the letter already carries the tracking number.
            if not tracker.get_slot("complaint_location"):
                result["complaint_location"] = (find_location(text) or word("place_in_letter"))[:300]
            if not tracker.get_slot("contact_phone"):
                result["contact_phone"] = find_phone(text) or "none"
        return result

    async def validate_complaint_location(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                          domain: DomainDict) -> dict[str, Any]:
        text = fold(str(value or ""))
        return {"complaint_location": text[:300] if len(text) >= 2 else None}

    async def validate_contact_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> dict[str, Any]:
        return {"contact_phone": optional_phone(value, dispatcher)}


class ActionCreateCase(CitizenAction):
    """Opens the case and gives the citizen its tracking number."""

    def name(self) -> str:
        return "action_create_case"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = tracker.get_slot("complaint_text") or ""
        phone = tracker.get_slot("contact_phone")
        kind = detect_kind(text, CaseKind.complaint)
        desk = desk_of(self.stores)
        case = await self.blocking(
            desk.open_case, description=mask_pii(text), location=mask_pii(tracker.get_slot("complaint_location") or ""),
            contact_phone="" if phone in (None, "none") else phone, channel=channel_of(tracker),
            sender_hash=sender_of(tracker), kind=kind, category=categorize(text), excerpt=conversation_excerpt(tracker),
            **reply_address(tracker).case_fields())
        dispatcher.utter_message(response="utter_case_created", number=case.number,
                                 number_spoken=spoken_digits(case.number), kind_text=CASE_KIND_LABELS[kind],
                                 days=desk.rules.working_days(kind), due_date=due_date(case.due_at))
        return [SlotSet("complaint_text", None), SlotSet("complaint_location", None), SlotSet("contact_phone", None),
                SlotSet("requested_slot", None), *ask_rating(dispatcher, tracker, domain, "complaint")]
