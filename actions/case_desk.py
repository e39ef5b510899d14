"""Cases (工单) on the citizen side: answers, ratings, messages for a department.

A status lookup shows the department's answer and asks the citizen to rate it; a
question the bot could not answer can be left for the owning department.

The lifecycle rules live in :class:`casework.cases.CaseDesk`; these actions only read and
word them (``bot/domain/cases.yml``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, CitizenFormValidation, channel_of, sender_of, user_text
from actions.closed_question import ask_from_domain
from actions.services.closed_question import EXPECT_CHOICE, bare_number
from actions.services.people import declines, fold, spoken_digits
from actions.stores import Stores
from actions.wording import history_line, timestamp, word
from casework.cases import CaseDesk, CaseError, detect_kind, effective_status, load_rules
from casework.departments import department_names
from casework.models import Case
from common.clock import CITY_TZ
from common.identity import normalize_cn_phone
from common.pii import mask_pii
from common.status import CASE_KIND_LABELS, CaseKind, CaseStatus, status_label

RATING_CONTEXT = "case_reply"
SKIP_PAYLOAD = "/deny"
# Channels whose sender id reaches the citizen by phone: the number is not asked again.
PHONE_CHANNELS = frozenset({"sms", "twilio", "voice", "twilio_voice"})
# Channels whose messages are letters: one-shot, so a question becomes a case without a form.
LETTER_CHANNELS = frozenset({"mail"})
# Typed answers to "您对这次答复满意吗？", most specific first.
RATING_WORDS = (("不满意", "dissatisfied"), ("不太满意", "dissatisfied"), ("没解决", "dissatisfied"),
                ("差", "dissatisfied"), ("基本满意", "mostly"), ("还行", "mostly"), ("一般", "mostly"),
                ("还可以", "mostly"), ("满意", "satisfied"), ("很好", "satisfied"))
MIN_MESSAGE_CHARS = 4
EXCERPT_MESSAGES = 8  # the citizen's latest messages kept (masked) with a case for staff


def conversation_excerpt(tracker: Tracker, limit: int = EXCERPT_MESSAGES) -> str:
    """The citizen's latest typed messages, PII masked, one a line (button payloads left out)."""
    said = [str(e.get("text") or "") for e in tracker.events if e.get("event") == "user"]
    said = [t.strip() for t in said if t.strip() and not t.startswith("/")]
    return "\n".join(mask_pii(t)[:300] for t in said[-limit:])[:2000]


def optional_phone(value: Any, dispatcher: CollectingDispatcher) -> str | None:
    """A contact phone the citizen may decline.

    Returns ``"none"`` when declined, the E.164 number, or None (asked again, after saying the
    number was not understood).
    """
    text = str(value or "")
    if text == "none" or declines(text):
        return "none"
    phone = normalize_cn_phone(text)
    if phone is None:
        dispatcher.utter_message(response="utter_invalid_phone")
    return phone


def desk_of(stores: Stores) -> CaseDesk:
    """The case desk on the actions' database (one per process, with its hooks)."""
    return stores.case_desk


def due_date(value: dt.datetime | None) -> str:
    """A case's due time as the citizen reads it (``12月8日``)."""
    if value is None:
        return ""
    local = (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(CITY_TZ)
    return word("due_date").format(month=local.month, day=local.day)


def _department(case: Case) -> str:
    return department_names().get(case.department_id, "") or word("case_unassigned")


def case_history(desk: CaseDesk, case: Case) -> str:
    """The lines of a case's history a citizen sees: stored lines, then each transition."""
    names = department_names()
    lines = [history_line(h["at"], status_label(h["status"]), h.get("note", "")) for h in case.history or []]
    for e in desk.events(case.number):
        note = names.get(e.department_id, "") if e.action == "assign" else ""
        lines.append(history_line(e.at, status_label(e.to_status), note))
    return "\n".join(lines)


def awaits_rating(case: Case) -> bool:
    """Whether the latest reply is answered and not rated yet."""
    if case.replied_at is None or effective_status(case) is not CaseStatus.replied:
        return False
    return case.rated_at is None or _aware(case.rated_at) < _aware(case.replied_at)


def show_case(dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, desk: CaseDesk,
              case: Case) -> list[EventType]:
    """Word a verified case: department, status, history and, once replied, the answer and the rating question.

    Returns:
        The events of the rating question, or an empty list when nothing is to be rated.
    """
    status = effective_status(case)
    dispatcher.utter_message(response="utter_case_status_desk", number=case.number,
                             kind_text=CASE_KIND_LABELS.get(case.kind, ""), department=_department(case),
                             status_text=status_label(status), due_date=due_date(case.due_at),
                             history=case_history(desk, case))
    reply = desk.latest_reply(case.number)
    if reply is None:
        return []
    dispatcher.utter_message(response="utter_case_reply", department=names_or(reply.department_id, case),
                             replied_when=timestamp(reply.at), reply=reply.text)
    if not awaits_rating(case):
        return []
    keys = list(load_rules().ratings)
    return [*ask_from_domain(dispatcher, tracker, domain, "utter_ask_case_rating", EXPECT_CHOICE,
                             no=SKIP_PAYLOAD, keys=keys),
            SlotSet("rating_context", RATING_CONTEXT), SlotSet("case_rating_number", case.number)]


def names_or(department_id: str, case: Case) -> str:
    """The name of the department that replied (the case's when the reply names none)."""
    return department_names().get(department_id, "") or _department(case)


def parse_case_rating(entity: str | None, text: str) -> str | None:
    """满意 / 基本满意 / 不满意 as a rating code, from the button's entity, a score or the words."""
    codes = list(load_rules().ratings)
    if entity in codes:
        return entity
    score = bare_number(entity or "") if entity else None
    if score is not None and 1 <= score <= 5:  # a 1-5 score from the general rating words
        return "satisfied" if score >= 4 else "mostly" if score == 3 else "dissatisfied"
    folded = fold(text)
    for cue, code in RATING_WORDS:
        if cue in folded:
            return code
    return None


async def record_case_rating(action: CitizenAction, dispatcher: CollectingDispatcher,
                             tracker: Tracker) -> list[EventType]:
    """Store the citizen's rating of a case reply (不满意 reopens the case once)."""
    number = tracker.get_slot("case_rating_number") or ""
    code = parse_case_rating(next(tracker.get_latest_entity_values("rating"), None), user_text(tracker))
    if code is None:
        dispatcher.utter_message(response="utter_case_rating_not_understood")
        return []
    desk = desk_of(action.stores)
    done = [SlotSet("rating_context", None), SlotSet("case_rating_number", None)]
    try:
        case = await action.blocking(desk.rate, number, code, actor="citizen")
    except CaseError:
        dispatcher.utter_message(response="utter_case_rating_unavailable")
        return done
    if effective_status(case) is CaseStatus.reopened:
        dispatcher.utter_message(response="utter_case_reopened_by_rating", number=case.number,
                                 department=_department(case), due_date=due_date(case.due_at))
    else:
        dispatcher.utter_message(response="utter_case_rated", number=case.number,
                                 rating_text=load_rules().ratings[code])
    return done


@dataclass(frozen=True)
class ReplyAddress:
    """Where a notice reaches this citizen again (``sealed`` when the channel sealed it already)."""

    address: str = ""
    sealed: str = ""
    thread: str = ""

    def case_fields(self) -> dict[str, str]:
        """The reply-address arguments of :meth:`casework.cases.CaseDesk.open_case`."""
        return {"reply_to": self.address, "reply_to_sealed": self.sealed, "reply_thread": self.thread[:300]}


def reply_address(tracker: Tracker) -> ReplyAddress:
    """Where a notice reaches this citizen again, from the channel's message metadata.

    SMS passes the number (``metadata.phone``), the mailbox the sender's address sealed
    (``reply_to_sealed``) and the letter's Message-ID (``thread``); other channels are
    reached by their sender id (a Telegram chat, a web chat session).
    """
    meta = (tracker.latest_message or {}).get("metadata") or {}
    sealed = str(meta.get("reply_to_sealed") or "")
    address = "" if sealed else str(meta.get("phone") or tracker.sender_id or "")
    return ReplyAddress(address=address, sealed=sealed, thread=str(meta.get("thread") or ""))


class ValidateLeaveMessageForm(CitizenFormValidation):
    """The one way to leave a message for a department: the question, then a contact phone.

    The question is asked unless the bot kept the one it could not answer; the phone only on
    channels that do not carry one (optional). Started by ``/leave_message``: the FAQ's
    "留言给相关部门" offer and the live-agent desk (closed, or nobody took the conversation in time).
    """

    def name(self) -> str:
        return "validate_leave_message_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> list[str]:
        if channel_of(tracker) in PHONE_CHANNELS:
            return [s for s in domain_slots if s != "message_contact"]  # the channel carries the phone
        return domain_slots

    async def validate_leave_message_text(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                          domain: DomainDict) -> dict[str, Any]:
        text = fold(str(value or "")).strip()
        if text.startswith("/"):  # the button that started the form: nothing written yet
            return {"leave_message_text": None}
        if len(text) < MIN_MESSAGE_CHARS:
            dispatcher.utter_message(response="utter_leave_message_nothing")
            return {"leave_message_text": None}
        return {"leave_message_text": text[:2000]}

    async def validate_message_contact(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> dict[str, Any]:
        return {"message_contact": optional_phone(value, dispatcher)}


class ActionLeaveMessage(CitizenAction):
    """Opens an inquiry case with the question the bot could not answer and gives its number."""

    def name(self) -> str:
        return "action_leave_message"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        done = [SlotSet("leave_message_text", None), SlotSet("message_contact", None),
                SlotSet("requested_slot", None)]
        given = tracker.get_slot("message_contact")
        phone = given if given not in (None, "none") else ""
        return [*await leave_message(self, dispatcher, tracker, tracker.get_slot("leave_message_text") or "",
                                     phone), *done]


async def leave_message(action: CitizenAction, dispatcher: CollectingDispatcher, tracker: Tracker, question: str,
                        phone: str = "") -> list[EventType]:
    """Open an inquiry case (or the kind its words show) for ``question`` and tell the citizen its number.

    The reply address is the channel's (the SMS number, the mail sender and thread, the chat);
    on a phone channel the sender's number is the contact when none was given.
    """
    text = fold(question)
    if len(text) < MIN_MESSAGE_CHARS:
        dispatcher.utter_message(response="utter_leave_message_nothing")
        return []
    channel = channel_of(tracker)
    reply = reply_address(tracker)
    if not phone and channel in PHONE_CHANNELS:
        phone = normalize_cn_phone(reply.address) or ""
    desk = desk_of(action.stores)
    case = await action.blocking(
        desk.open_case, description=mask_pii(text)[:2000], kind=detect_kind(text, CaseKind.inquiry),
        channel=channel, sender_hash=sender_of(tracker), contact_phone=phone, excerpt=conversation_excerpt(tracker),
        category="咨询", **reply.case_fields())
    dispatcher.utter_message(response="utter_message_left", number=case.number,
                             number_spoken=spoken_digits(case.number), due_date=due_date(case.due_at),
                             days=desk.rules.working_days(case.kind))
    return []


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
