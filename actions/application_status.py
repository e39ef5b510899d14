"""Application (and complaint case) status, revealed only after an identity check."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, CitizenFormValidation, client_of, sender_of
from actions.case_desk import desk_of, show_case
from actions.rating import ask_rating
from actions.services.people import parse_application_no, parse_last4, spoken_digits
from actions.wording import history_line, word
from common.identity import matches_last4
from common.status import status_label


class ValidateStatusForm(CitizenFormValidation):
    """Validates the number to look up and checks the four characters that prove identity.

    The check happens here, inside the form, so a wrong answer is simply asked again
    (with the attempts left) and never re-read from the same message. Every check is
    recorded per number, per conversation and per client address
    (:class:`casework.guards.IdentityChecks`); when any of them reaches its hourly limit the
    form ends with ``verification_locked`` and :class:`ActionCheckStatus` explains. An
    unknown number and wrong digits get the same reply and count the same, so numbers
    cannot be probed; either way both are asked again.
    """

    def name(self) -> str:
        return "validate_status_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> list[str]:
        if tracker.get_slot("verification_locked"):
            return []  # ends the form; the action explains the lock
        return domain_slots

    async def validate_application_no(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> dict[str, Any]:
        number = parse_application_no(str(value or ""))
        if number is None:
            dispatcher.utter_message(response="utter_invalid_application_no")
            return {"application_no": None}
        left = await self.blocking(self.stores.checks.remaining, sender_hash=sender_of(tracker),
                                   client_hash=client_of(tracker), number=number)
        if left <= 0:
            return {"application_no": number, "verification_locked": True}
        return {"application_no": number}

    async def validate_verify_last4(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> dict[str, Any]:
        last4 = parse_last4(str(value or ""))
        if last4 is None:
            dispatcher.utter_message(response="utter_invalid_last4")
            return {"verify_last4": None}
        number = tracker.get_slot("application_no")
        if not number:
            return {"verify_last4": None}
        checks = self.stores.checks
        who = {"sender_hash": sender_of(tracker), "client_hash": client_of(tracker)}
        if await self.blocking(checks.remaining, number=number, **who) <= 0:
            return {"verify_last4": None, "verification_locked": True}
        record = await self.blocking(_lookup, self.stores.casework, number)
        verified = record is not None and any(s and matches_last4(last4, s) for s in _secrets(number, record))
        await self.blocking(checks.record, number=number, success=verified, **who)
        if verified:
            return {"verify_last4": last4}
        remaining = await self.blocking(checks.remaining, number=number, **who)
        if remaining <= 0:
            return {"verify_last4": None, "verification_locked": True}
        # The same words whether the number exists or not; both are asked again.
        dispatcher.utter_message(response="utter_verification_failed", remaining=remaining)
        return {"verify_last4": None, "application_no": None}


def _lookup(casework: Any, number: str) -> Any | None:
    """The complaint case (TS numbers) or the application with ``number``, or None."""
    return casework.get_case(number) if number.startswith("TS") else casework.get_application(number)


def _secrets(number: str, record: Any) -> list[str]:
    """The last-four values that prove identity for a looked-up record."""
    return [record.phone_last4] if number.startswith("TS") else [record.phone_last4, record.id_last4]


class ActionCheckStatus(CitizenAction):
    """Looks up an application or case once the applicant's identity is checked.

    The check is the last four digits of the applicant's phone or ID number; failed checks
    lock it per number, conversation and client address (``casework/guards.yml``).
    """

    def name(self) -> str:
        return "action_check_status"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        casework = self.stores.casework
        number = tracker.get_slot("application_no") or ""
        given = tracker.get_slot("verify_last4") or ""
        done = [SlotSet("application_no", None), SlotSet("verify_last4", None), SlotSet("requested_slot", None),
                SlotSet("verification_locked", None)]
        if tracker.get_slot("verification_locked"):
            dispatcher.utter_message(response="utter_verification_locked")
            return done
        record = await self.blocking(_lookup, casework, number)
        # The form verified the digits; check again so no other path can reveal a status.
        if record is None or not any(s and matches_last4(given, s) for s in _secrets(number, record)):
            dispatcher.utter_message(response="utter_verification_failed_final")
            return done
        if number.startswith("TS"):
            rating = await self.blocking(show_case, dispatcher, tracker, domain, desk_of(self.stores), record)
            return [*done, *(rating or ask_rating(dispatcher, tracker, domain, "status")), SlotSet("service", None)]
        else:
            svc = await self.blocking(self.stores.knowledge.get_service, record.service_id)
            history = "\n".join(history_line(e.at, status_label(e.status), e.note) for e in record.events)
            dispatcher.utter_message(response="utter_application_status", number=number, service_name=svc.name,
                                     status_text=status_label(record.status), history=history,
                                     next_step=record.next_step or word("default_next_step"),
                                     number_spoken=spoken_digits(number))
            service_id = record.service_id
        return [*done, *ask_rating(dispatcher, tracker, domain, "status"), SlotSet("service", service_id)]
