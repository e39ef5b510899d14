"""Application (and complaint case) status, revealed only after an identity check."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, CitizenFormValidation, sender_of
from actions.services.people import parse_application_no, parse_last4, spoken_digits
from actions.services.validators import matches_last4
from knowledge.clock import CITY_TZ

STATUS_TEXT = {
    "received": "已受理", "reviewing": "审核中", "need_more": "需补充材料", "approved": "已核准",
    "rejected": "不予批准", "ready": "已办好，可领取", "done": "已办结", "transferred": "已转交承办部门",
    "replied": "已答复",
}


def when(value: Any) -> str:
    """A timestamp as 11月10日 10:05 in city time."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(CITY_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


class ValidateStatusForm(CitizenFormValidation):
    """Validates the number to look up and the four characters that prove identity."""

    def name(self) -> str:
        return "validate_status_form"

    async def validate_application_no(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> dict[str, Any]:
        number = parse_application_no(str(value or ""))
        if number is None:
            dispatcher.utter_message(response="utter_invalid_application_no")
        return {"application_no": number}

    async def validate_verify_last4(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> dict[str, Any]:
        last4 = parse_last4(str(value or ""))
        if last4 is None:
            dispatcher.utter_message(response="utter_invalid_last4")
        return {"verify_last4": last4}


class ActionCheckStatus(CitizenAction):
    """Looks up an application or case after checking the last four digits of the
    applicant's phone or ID number; five failed checks per sender per hour lock it."""

    def name(self) -> str:
        return "action_check_status"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        casework, settings = self.stores.casework, self.stores.settings
        sender = sender_of(tracker)
        number = tracker.get_slot("application_no") or ""
        given = tracker.get_slot("verify_last4") or ""
        done = [SlotSet("application_no", None), SlotSet("verify_last4", None), SlotSet("requested_slot", None)]
        failures = await self.blocking(casework.failed_verifications, sender)
        if failures >= settings.max_failed_checks_per_hour:
            dispatcher.utter_message(response="utter_verification_locked")
            return done
        if number.startswith("TS"):
            record = await self.blocking(casework.get_case, number)
            secrets = [record.phone_last4] if record else []
        else:
            record = await self.blocking(casework.get_application, number)
            secrets = [record.phone_last4, record.id_last4] if record else []
        verified = any(s and matches_last4(given, s) for s in secrets)
        await self.blocking(casework.record_verification, sender, number, verified)
        if not verified:
            # Unknown numbers count as failures too, so numbers cannot be probed.
            remaining = settings.max_failed_checks_per_hour - failures - 1
            if record is None:
                dispatcher.utter_message(response="utter_application_not_found", number=number)
            elif remaining > 0:
                dispatcher.utter_message(response="utter_verification_failed", remaining=remaining)
                return [SlotSet("verify_last4", None), FollowupAction("status_form")]
            else:
                dispatcher.utter_message(response="utter_verification_locked")
            return done
        if number.startswith("TS"):
            history = "\n".join(f"{when(h['at'])} {STATUS_TEXT.get(h['status'], h['status'])}：{h.get('note', '')}"
                                for h in record.history)
            dispatcher.utter_message(response="utter_case_status", number=number,
                                     status_text=STATUS_TEXT.get(record.status, record.status), history=history)
            service_id = None
        else:
            svc = await self.blocking(self.stores.knowledge.get_service, record.service_id)
            history = "\n".join(f"{when(e.at)} {STATUS_TEXT.get(e.status, e.status)}：{e.note}" for e in record.events)
            dispatcher.utter_message(response="utter_application_status", number=number, service_name=svc.name,
                                     status_text=STATUS_TEXT.get(record.status, record.status), history=history,
                                     next_step=record.next_step or "请耐心等待办理结果。",
                                     number_spoken=spoken_digits(number))
            service_id = record.service_id
        dispatcher.utter_message(response="utter_ask_rating")
        return [*done, SlotSet("rating_context", "status"), SlotSet("service", service_id)]
