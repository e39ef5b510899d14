"""Booking, cancelling and looking up appointments at service centres."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, CitizenFormValidation, channel_of, client_of, sender_of, user_text
from actions.closed_question import ask_from_domain
from actions.phone_proof import CODE_SLOT, PhoneProofValidation, phone_is_proved
from actions.rating import ask_rating
from actions.services import booking_rules as rules
from actions.services.closed_question import EXPECT_YES_NO
from actions.services.dates import format_date_zh, format_time_zh, parse_date, parse_time, parse_when
from actions.services.people import clean_person_name, parse_booking_ref, spoken_digits
from actions.stores import Stores
from actions.wording import word
from casework.repository import AlreadyBooked, BookingNotFound, BookingRequest, SlotFull
from casework.slots import SlotPolicy, SlotSearch, nearest, ranges_for, spread
from common.clock import city_now
from common.identity import normalize_cn_mobile
from common.pii import mask_phone
from common.status import BOOKING_STATUS_LABELS

# What "yes" and "no" to the confirmation stand for (the buttons of utter_confirm_booking).
CONFIRM_PAYLOAD = "/affirm"
STOP_PAYLOAD = "/deny"
BOOKING_SLOTS = ("booking_date", "booking_time", "booking_confirmed", CODE_SLOT, "requested_slot")
LOOKUP_SLOTS = ("booking_ref", CODE_SLOT, "requested_slot")
# Slots that outlive a stopped form: what the conversation is about and who the citizen is.
CONTEXT_SLOTS = frozenset({"service", "center", "person_name", "phone"})


def now() -> dt.datetime:
    """The city's current time (a function so tests can pin it)."""
    return city_now()


def time_text(slot: str) -> str:
    """"14:00" → "下午2:00"."""
    return format_time_zh(dt.time.fromisoformat(slot))


class BookingContext:
    """The centre, service and day a booking step is about, with their slots."""

    def __init__(self, mixin: CitizenFormValidation, tracker: Tracker):
        self.mixin = mixin
        self.tracker = tracker

    async def center(self) -> Any | None:
        cid = self.tracker.get_slot("center")
        if not cid:
            return None
        from knowledge.repository import NotFound

        try:
            return await self.mixin.blocking(self.mixin.stores.knowledge.get_center, cid)
        except NotFound:
            return None


def slot_search(stores: Stores) -> SlotSearch:
    """Casework's slot search with the action server's booking policy."""
    settings = stores.settings
    return SlotSearch(stores.casework, SlotPolicy(settings.slot_minutes, settings.min_lead_minutes,
                                                  settings.horizon_days))


async def free_slots(action: CitizenAction | CitizenFormValidation, center: Any, service_id: str,
                     day: dt.date) -> tuple[list[str], list[str]]:
    """(every slot start of the day, those with a free place and enough lead time from now)."""
    return await action.blocking(slot_search(action.stores).day_slots, center, service_id, day, now())


def slot_buttons(slots: list[str], limit: int, payload_intent: str = "inform") -> list[dict[str, str]]:
    """Buttons offering the first ``limit`` slots; choosing one sends ``/<payload_intent>{"time": …}``."""
    return [{"title": time_text(s), "payload": f"/{payload_intent}" + json.dumps({"time": s})} for s in slots[:limit]]


class ValidateBookingForm(PhoneProofValidation, CitizenFormValidation):
    """Validates the booking form: service → centre → day → slot → name → phone → code → confirmation.

    Rules: working days (public holidays closed, make-up workdays open), the centre's
    opening hours, per-slot capacity, no past dates, at most ``horizon_days`` ahead; a
    full slot offers the nearest free ones. The phone is proved before the confirmation
    (:mod:`actions.phone_proof`), so an existing booking is only ever shown to its owner.
    """

    def name(self) -> str:
        return "validate_booking_form"

    def slot_buttons(self, slots: list[str]) -> list[dict[str, str]]:
        return slot_buttons(slots, self.stores.settings.max_offered_slots)

    async def offer_days(self, dispatcher: CollectingDispatcher, center: Any, service_id: str) -> None:
        days = await self.blocking(slot_search(self.stores).bookable_days, center, service_id, now())
        buttons = [{"title": format_date_zh(d), "payload": "/inform" + json.dumps({"date": d.isoformat()})}
                   for d in days]
        dispatcher.utter_message(response="utter_choose_date", buttons=buttons)

    # Dates and times said in the message that started the form ("预约后天下午办护照").
    async def extract_booking_date(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> dict[str, Any]:
        if tracker.get_slot("booking_date") is None and tracker.get_slot("requested_slot") is None:
            text = user_text(tracker)
            if parse_date(text, now()) is not None:
                return {"booking_date": text}
        return {}

    async def extract_booking_time(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> dict[str, Any]:
        if tracker.get_slot("booking_time") is None and tracker.get_slot("requested_slot") is None:
            text = user_text(tracker)
            if parse_time(text) is not None:
                return {"booking_time": text}
        return {}

    async def validate_service(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> dict[str, Any]:
        text = str(value or "")
        services = {s.id for s in await self.blocking(self.stores.knowledge.list_services)}
        found = text if text in services else None
        if found is None:
            hits = await self.blocking(self.stores.search.search, text, 1)
            if hits and hits[0].service_id and hits[0].confidence >= self.stores.settings.suggest_threshold:
                found = hits[0].service_id
        if found is None:
            dispatcher.utter_message(response="utter_invalid_service")
            return {"service": None}
        if not await self.blocking(self.stores.knowledge.booking_venues, found):
            # Online-only (企业年报) or handled at no bookable venue: say where instead of booking.
            svc = await self.blocking(self.stores.knowledge.get_service, found)
            dispatcher.utter_message(response="utter_booking_not_at_venue", service_name=svc.name,
                                     online_route=svc.online_route or svc.online_url or "12345")
            return {"service": None}
        return {"service": found}

    async def validate_center(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> dict[str, Any]:
        service_id = tracker.get_slot("service")
        knowledge = self.stores.knowledge
        centers = await self.blocking(knowledge.booking_venues, service_id) if service_id else []
        center = rules.match_center(str(value or ""), centers, service_id)
        if center is None and centers and str(value or "") not in {c.id for c in centers}:
            # A hall that does not handle the service ("海珠" → haizhu_center for 结婚登记): its district's venue.
            named = rules.match_center(str(value or ""), await self.blocking(knowledge.list_centers), None)
            if named is not None:
                center = rules.match_center(named.district, centers, service_id)
        if center is not None:
            return {"center": center.id}
        svc = await self.blocking(self.stores.knowledge.get_service, service_id) if service_id else None
        name = svc.name if svc else word("unnamed_service")
        dispatcher.utter_message(response="utter_invalid_center", service_name=name)
        buttons = [{"title": c.name, "payload": "/inform" + json.dumps({"center": c.id})} for c in centers[:10]]
        dispatcher.utter_message(response="utter_choose_center", service_name=name, buttons=buttons)
        return {"center": None}

    async def validate_booking_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> dict[str, Any]:
        current = now()
        text = str(value or "")
        day, spec = parse_when(text, current)
        if day is None:  # the extractor may have cut the span badly ("下昼去"): read the whole message
            text = user_text(tracker)
            day, spec = parse_when(text, current)
        if day is None and asked_other_slot(tracker, "booking_date"):
            # a "date" tagged in the answer to another question (the name 周敏): not a correction
            return {"booking_date": value_before_message(tracker, "booking_date")}
        center = await BookingContext(self, tracker).center()
        service_id = tracker.get_slot("service")
        if day is None:
            dispatcher.utter_message(response="utter_date_not_understood")
            return {"booking_date": None}
        horizon = self.stores.settings.horizon_days
        if day < current.date():
            dispatcher.utter_message(response="utter_date_in_past")
            return {"booking_date": None}
        if day > current.date() + dt.timedelta(days=horizon):
            last = format_date_zh(current.date() + dt.timedelta(days=horizon))
            dispatcher.utter_message(response="utter_date_too_far", max_days=horizon, last_date=last)
            return {"booking_date": None}
        if center is None or not service_id:
            return {"booking_date": day.isoformat()}
        if not ranges_for(center, day):
            dispatcher.utter_message(response="utter_date_closed", date_text=format_date_zh(day),
                                     center_name=center.name)
            await self.offer_days(dispatcher, center, service_id)
            return {"booking_date": None}
        if not (await free_slots(self, center, service_id, day))[1]:
            dispatcher.utter_message(response="utter_no_free_slots", date_text=format_date_zh(day))
            await self.offer_days(dispatcher, center, service_id)
            return {"booking_date": None}
        result: dict[str, Any] = {"booking_date": day.isoformat()}
        if spec is not None and tracker.get_slot("booking_time") is None:
            result.update(await self._check_time(dispatcher, center, service_id, day, text))
        return result

    async def validate_booking_time(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> dict[str, Any]:
        day_iso = tracker.get_slot("booking_date")
        center = await BookingContext(self, tracker).center()
        service_id = tracker.get_slot("service")
        if not day_iso or center is None or not service_id:
            return {"booking_time": None}  # asked again once the day is known
        text = str(value or "")
        if parse_time(text) is None and parse_time(user_text(tracker)) is not None:
            text = user_text(tracker)  # a badly cut entity span: the whole message names the time
        if parse_time(text) is None and asked_other_slot(tracker, "booking_time"):
            return {"booking_time": value_before_message(tracker, "booking_time")}  # the name 时磊, no time
        return await self._check_time(dispatcher, center, service_id, dt.date.fromisoformat(day_iso), text)

    async def _check_time(self, dispatcher: CollectingDispatcher, center: Any, service_id: str, day: dt.date,
                          text: str) -> dict[str, Any]:
        spec = parse_time(text)
        starts, free = await free_slots(self, center, service_id, day)
        date_text = format_date_zh(day)
        n = self.stores.settings.max_offered_slots
        if not free:
            dispatcher.utter_message(response="utter_no_free_slots", date_text=date_text)
            return {"booking_time": None, "booking_date": None}
        if spec is None:
            dispatcher.utter_message(response="utter_time_not_understood")
            dispatcher.utter_message(response="utter_choose_time", date_text=date_text,
                                     buttons=self.slot_buttons(free))
            return {"booking_time": None}
        if spec.hour is None:
            in_period = [s for s in free if rules.in_period(s, spec.period or "morning")]
            dispatcher.utter_message(response="utter_choose_time", date_text=date_text,
                                     buttons=self.slot_buttons(in_period or free))
            return {"booking_time": None}
        slot = rules.slot_for(spec, starts, self.stores.settings.slot_minutes)
        wanted = f"{spec.hour:02d}:{spec.minute:02d}"
        if slot is None:
            dispatcher.utter_message(response="utter_time_closed", center_name=center.name,
                                     time_text=time_text(wanted), hours_text=center.hours_text)
            dispatcher.utter_message(response="utter_choose_time", date_text=date_text,
                                     buttons=self.slot_buttons(nearest(wanted, free, n)))
            return {"booking_time": None}
        if slot not in free:
            dispatcher.utter_message(response="utter_slot_full", date_text=date_text, time_text=time_text(slot))
            dispatcher.utter_message(response="utter_choose_time", date_text=date_text,
                                     buttons=self.slot_buttons(nearest(slot, free, n)))
            return {"booking_time": None}
        return {"booking_time": slot}

    async def validate_person_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> dict[str, Any]:
        said = user_text(tracker)
        text = str(value or "")
        entities = (tracker.latest_message or {}).get("entities") or []
        asked = tracker.get_slot("requested_slot") == "person_name"
        if asked and text and text != said and text in said:
            text = said  # the answer to "your name?" is the name, not the piece an extractor cut out (张|测试)
        if text == said and is_correction(said, entities):
            # "改成后天" while the name was asked: a correction of another slot, not a name.
            return {"person_name": None}
        for ent in entities:  # "陈小红 13900001234": the name is what is left around the number
            if ent.get("entity") == "phone" and isinstance(ent.get("start"), int) and text == said:
                text = text[:ent["start"]] + text[ent["end"]:]
        if not asked:
            if parse_date(text, now()) is not None or parse_time(text) is not None:
                # "周三" said for the day and tagged as a name: not a name, and the name stays as it was
                return {"person_name": value_before_message(tracker, "person_name")}
            text = whole_name(text, said)
        name = clean_person_name(text)
        if name is None:
            dispatcher.utter_message(response="utter_invalid_name")
        return {"person_name": name}

    async def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> dict[str, Any]:
        return validated_phone(value, dispatcher)

    async def validate_booking_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                         domain: DomainDict) -> dict[str, Any]:
        return {"booking_confirmed": True if value is True else None}


def asked_other_slot(tracker: Tracker, slot: str) -> bool:
    """Whether the form is waiting for a slot other than ``slot``."""
    asked = tracker.get_slot("requested_slot")
    return bool(asked) and asked != slot


def value_before_message(tracker: Tracker, slot: str) -> Any:
    """The slot's value before the latest user message (what this turn's extraction overwrote)."""
    events = tracker.events or []
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    for event in reversed(events[:max(last_user, 0)]):
        if event.get("event") == "slot" and event.get("name") == slot:
            return event.get("value")
    set_since = any(e.get("event") == "slot" and e.get("name") == slot for e in events[last_user + 1:])
    return None if set_since else tracker.get_slot(slot)


def is_correction(text: str, entities: list[dict[str, Any]]) -> bool:
    """Whether the message clearly changes another booking slot instead of giving a name.

    A centre or service entity counts as such; a date or time only when the message really reads
    as one, so a name with a calendar surname (周敏, 年华, 时磊) tagged as a date stays a name.
    """
    kinds = {e.get("entity") for e in entities}
    if kinds & {"center", "service"}:
        return True
    if "date" in kinds and parse_date(text, now()) is not None:
        return True
    return "time" in kinds and parse_time(text) is not None


def whole_name(name: str, said: str) -> str:
    """The name extended to the characters jieba cut off ("张" in "我叫张测试" → "张测试").

    A name entity is a token sequence; a one-character result is a surname whose given name was a
    separate dictionary word. It is extended by the CJK characters that follow, up to three in all.
    """
    at = said.find(name) if name else -1
    if at < 0 or len(name) >= 2:
        return name
    end = at + len(name)
    while end < len(said) and end - at < 3 and "\u3400" <= said[end] <= "\u9fff":
        end += 1
    return said[at:end]


def validated_phone(value: Any, dispatcher: CollectingDispatcher) -> dict[str, Any]:
    """The phone slot as E.164, or None with a polite message."""
    e164 = normalize_cn_mobile(str(value or ""))
    if e164 is None:
        dispatcher.utter_message(response="utter_invalid_phone")
    return {"phone": e164}


async def booking_summary(action: CitizenAction | CitizenFormValidation, tracker: Tracker) -> dict[str, str]:
    """Display values of the booking in the slots (for confirmation and the final message)."""
    knowledge = action.stores.knowledge
    svc = await action.blocking(knowledge.get_service, tracker.get_slot("service"))
    center = await action.blocking(knowledge.get_center, tracker.get_slot("center"))
    day = dt.date.fromisoformat(tracker.get_slot("booking_date"))
    return {"service_name": svc.name, "center_name": center.name, "center_address": center.address,
            "date_text": format_date_zh(day), "time_text": time_text(tracker.get_slot("booking_time")),
            "person_name": tracker.get_slot("person_name") or "", "phone_masked": mask_phone(tracker.get_slot("phone"))}


class ActionAskBookingConfirmed(CitizenAction):
    """Shows the booking for confirmation (the values come from the knowledge base)."""

    def name(self) -> str:
        return "action_ask_booking_confirmed"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        # a closed question: "确认/好/系/1" books, "不/取消/2" stops (read by action_resolve_reply)
        return ask_from_domain(dispatcher, tracker, domain, "utter_confirm_booking", EXPECT_YES_NO,
                               yes=CONFIRM_PAYLOAD, no=STOP_PAYLOAD, **await booking_summary(self, tracker))


class ActionAskBookingTime(CitizenAction):
    """Asks for the time: the day's free slots first, then the question.

    Buttons on web chat and Telegram, numbered on SMS, keyed on the phone; without a centre or a
    day yet, the plain question.
    """

    def name(self) -> str:
        return "action_ask_booking_time"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        day_iso, service_id = tracker.get_slot("booking_date"), tracker.get_slot("service")
        center = await BookingContext(self, tracker).center() if day_iso and service_id else None
        free: list[str] = []
        if center is not None:
            free = (await free_slots(self, center, service_id, dt.date.fromisoformat(day_iso)))[1]
        if not free:
            dispatcher.utter_message(response="utter_ask_booking_form_booking_time")
            return []
        offered = spread(free, self.stores.settings.max_offered_slots)
        day = dt.date.fromisoformat(day_iso)
        dispatcher.utter_message(response="utter_choose_time", date_text=format_date_zh(day),
                                 buttons=slot_buttons(offered, len(offered)))
        dispatcher.utter_message(response="utter_ask_time_after_slots")
        return []


class ActionBookAppointment(CitizenAction):
    """Books the confirmed slot; a slot taken meanwhile offers the nearest free ones."""

    def name(self) -> str:
        return "action_book_appointment"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.get_slot("booking_confirmed") is not True:
            dispatcher.utter_message(response="utter_stopped")
            return reset(BOOKING_SLOTS)
        if not await phone_is_proved(self, tracker, tracker.get_slot("phone")):
            dispatcher.utter_message(response="utter_phone_not_proved")
            return reset(BOOKING_SLOTS)
        knowledge, casework = self.stores.knowledge, self.stores.casework
        summary = await booking_summary(self, tracker)
        center = await self.blocking(knowledge.get_center, tracker.get_slot("center"))
        request = BookingRequest(
            service_id=tracker.get_slot("service"), center_id=center.id,
            date=dt.date.fromisoformat(tracker.get_slot("booking_date")), slot_start=tracker.get_slot("booking_time"),
            name=tracker.get_slot("person_name"), phone=tracker.get_slot("phone"),
            sender_hash=sender_of(tracker), channel=channel_of(tracker))
        try:
            booking = await self.blocking(casework.book, request, center.slot_capacity)
        except AlreadyBooked as exc:
            old = exc.booking
            dispatcher.utter_message(response="utter_booking_already", service_name=summary["service_name"],
                                     booking_ref=old.ref, date_text=format_date_zh(old.date),
                                     time_text=time_text(old.slot_start))
            return reset(BOOKING_SLOTS)
        except SlotFull:
            free = await free_slots(self, center, request.service_id, request.date)  # the form's rules
            limit = self.stores.settings.max_offered_slots
            buttons = slot_buttons(nearest(request.slot_start, free[1], limit), limit, "book_appointment")
            dispatcher.utter_message(response="utter_booking_slot_taken", date_text=summary["date_text"],
                                     time_text=summary["time_text"], buttons=buttons)
            return reset(("booking_time", "booking_confirmed", "requested_slot"))
        await self.blocking(self.stores.phone_proofs.record_booking, booking_ref=booking.ref, center_id=center.id,
                            client_hash=client_of(tracker), channel=request.channel)
        dispatcher.utter_message(response="utter_booking_done", booking_ref=booking.ref,
                                 booking_ref_spoken=spoken_digits(booking.ref), **summary)
        return [*reset(BOOKING_SLOTS), *ask_rating(dispatcher, tracker, domain, "booking")]


class ActionStopForm(CitizenAction):
    """Stops whichever form is running, saving nothing."""

    def name(self) -> str:
        return "action_stop_form"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_stopped")
        return [ActiveLoop(None), *reset(form_slots_to_forget(domain))]


def form_slots_to_forget(domain: DomainDict) -> tuple[str, ...]:
    """Every form's required slots except the conversation's context, then ``requested_slot``.

    Read from the domain, so a new form needs no change here.
    """
    forms = domain.get("forms") or {}
    slots = dict.fromkeys(s for form in forms.values() for s in (form or {}).get("required_slots") or []
                          if s not in CONTEXT_SLOTS)
    return (*slots, "requested_slot")


def reset(slots: tuple[str, ...]) -> list[EventType]:
    """SlotSet(None) for each slot."""
    return [SlotSet(s, None) for s in slots]


class ValidateBookingLookup(PhoneProofValidation, CitizenFormValidation):
    """Booking reference, phone and the phone's proof, shared by the cancel and look-up forms."""

    async def validate_booking_ref(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> dict[str, Any]:
        ref = parse_booking_ref(str(value or ""))
        if ref is None:
            dispatcher.utter_message(response="utter_invalid_booking_ref")
        return {"booking_ref": ref}

    async def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> dict[str, Any]:
        return validated_phone(value, dispatcher)


class ValidateCancelBookingForm(ValidateBookingLookup):
    """Validates the cancel form."""

    def name(self) -> str:
        return "validate_cancel_booking_form"


class ValidateQueryBookingForm(ValidateBookingLookup):
    """Validates the look-up form."""

    def name(self) -> str:
        return "validate_query_booking_form"


async def booking_view(action: CitizenAction, booking: Any) -> dict[str, str]:
    """Display values of a stored booking."""
    svc = await action.blocking(action.stores.knowledge.get_service, booking.service_id)
    center = await action.blocking(action.stores.knowledge.get_center, booking.center_id)
    return {"booking_ref": booking.ref, "service_name": svc.name, "center_name": center.name,
            "center_address": center.address, "date_text": format_date_zh(booking.date),
            "time_text": time_text(booking.slot_start), "status_text": BOOKING_STATUS_LABELS.get(booking.status, "")}


class ActionCancelAppointment(CitizenAction):
    """Cancels a booking found by its reference and the phone it was made with."""

    def name(self) -> str:
        return "action_cancel_appointment"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if not await proved_lookup(self, dispatcher, tracker):
            return reset(LOOKUP_SLOTS)
        try:
            booking = await self.blocking(self.stores.casework.cancel_booking, tracker.get_slot("booking_ref"),
                                          tracker.get_slot("phone"))
        except BookingNotFound:
            dispatcher.utter_message(response="utter_booking_not_found")
            return reset(LOOKUP_SLOTS)
        view = await booking_view(self, booking)
        dispatcher.utter_message(response="utter_booking_cancelled", **view)
        return [*reset(LOOKUP_SLOTS), *ask_rating(dispatcher, tracker, domain, "cancel"),
                SlotSet("service", booking.service_id)]


class ActionQueryAppointment(CitizenAction):
    """Shows a booking found by its reference and the phone it was made with."""

    def name(self) -> str:
        return "action_query_appointment"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if not await proved_lookup(self, dispatcher, tracker):
            return reset(LOOKUP_SLOTS)
        try:
            booking = await self.blocking(self.stores.casework.find_booking, tracker.get_slot("booking_ref"),
                                          tracker.get_slot("phone"))
        except BookingNotFound:
            dispatcher.utter_message(response="utter_booking_not_found")
            return reset(LOOKUP_SLOTS)
        dispatcher.utter_message(response="utter_booking_details", **await booking_view(self, booking))
        return reset(LOOKUP_SLOTS)


async def proved_lookup(action: CitizenAction, dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Whether a cancel or look-up may go ahead: the phone is proved (else say why, unless the form said)."""
    phone = tracker.get_slot("phone")
    if await phone_is_proved(action, tracker, phone):
        return True
    if phone and tracker.get_slot("booking_ref"):  # the form ended at a cap with no phone: already explained
        dispatcher.utter_message(response="utter_phone_not_proved")
    return False
