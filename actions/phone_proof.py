"""Proof of phone ownership inside the booking, cancel and look-up forms.

Before a booking is made, shown or cancelled, the citizen proves the phone it is (or was)
made with. The SMS and voice channels carry the caller's own number (``metadata.phone``):
when it is the phone given, that is the proof. Everywhere else (web chat, Telegram,
WeChat, mail) the form asks for a 6-digit code sent by SMS to that phone
(:class:`casework.guards.PhoneProofs`): asking for the code sends it (once while it is
live), a wrong code is asked again with the tries left, a dead one is replaced, and a cap
(per phone, conversation or client address) ends the form politely. The final actions
check the proof again on the server side: the ``phone_code`` slot is only the form's
bookkeeping, never the authority.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import CitizenAction, StoresMixin, channel_phone, client_of, sender_of
from actions.services.people import fold
from casework.guards import CodeRefused, CodeResult
from common.identity import normalize_cn_mobile
from common.pii import mask_phone

log = logging.getLogger(__name__)

CODE_SLOT = "phone_code"
PROVED = "ok"  # the slot's value once the form saw the proof (re-checked by the final actions)
_CODE_RE = re.compile(r"(?<!\d)(\d{4,8})(?!\d)")


def proved_by_channel(tracker: Tracker, phone: str | None) -> bool:
    """Whether the SMS/voice channel's own number is ``phone`` (E.164)."""
    own = channel_phone(tracker)
    return bool(phone and own and normalize_cn_mobile(own) == phone)


async def phone_is_proved(action: StoresMixin, tracker: Tracker, phone: str | None) -> bool:
    """Whether this conversation proved ``phone``: by its channel, or by a code within the proof window."""
    if not phone:
        return False
    if proved_by_channel(tracker, phone):
        return True
    return await action.blocking(action.stores.phone_proofs.is_proved, phone, sender_of(tracker))


def parse_code(text: str, length: int) -> str | None:
    """The code in a message ("验证码 382 914" → "382914"), None without exactly ``length`` digits."""
    digits = re.sub(r"[\s-]", "", fold(text))
    match = _CODE_RE.search(digits)
    return match.group(1) if match and len(match.group(1)) == length else None


class PhoneProofValidation(StoresMixin):
    """Mixin of the form validators: skips ``phone_code`` once proved, and validates the code."""

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> list[str]:
        """The form's slots, without the code once the phone is proved."""
        if CODE_SLOT in domain_slots and await phone_is_proved(self, tracker, tracker.get_slot("phone")):
            return [s for s in domain_slots if s != CODE_SLOT]
        return domain_slots

    async def validate_phone_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        """Check the code against the live one of this phone and conversation."""
        proofs = self.stores.phone_proofs
        phone = tracker.get_slot("phone")
        code = parse_code(str(value or ""), proofs.limits.code_length)
        if code is None:
            dispatcher.utter_message(response="utter_invalid_phone_code")
            return {CODE_SLOT: None}
        if not phone:
            return {CODE_SLOT: None}
        result = await self.blocking(proofs.check, phone, sender_of(tracker), code)
        if result.result is CodeResult.PROVED:
            return {CODE_SLOT: PROVED}
        if result.result is CodeResult.WRONG:
            dispatcher.utter_message(response="utter_phone_code_wrong", remaining=result.remaining)
        else:  # expired, used up or never sent: asking again sends a new one (within the caps)
            dispatcher.utter_message(response="utter_phone_code_expired")
        return {CODE_SLOT: None}


class ActionAskPhoneCode(CitizenAction):
    """Asks for the code, sending it first unless a live one was already sent to this phone.

    At a cap (or when the SMS cannot be sent) it says so and ends the form, keeping nothing.
    """

    def name(self) -> str:
        return "action_ask_phone_code"

    async def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        proofs, phone, session = self.stores.phone_proofs, tracker.get_slot("phone"), sender_of(tracker)
        if not phone:
            return [SlotSet("requested_slot", None)]
        if not await self.blocking(proofs.pending, phone, session):
            try:
                await self.blocking(proofs.issue, phone, session, client_of(tracker), self.stores.code_sender)
            except CodeRefused:
                dispatcher.utter_message(response="utter_phone_code_refused")
                return ended()
            except Exception:
                log.exception("phone code not sent (sender %s)", session)
                dispatcher.utter_message(response="utter_phone_code_not_sent")
                return ended()
        dispatcher.utter_message(response="utter_ask_phone_code", phone_masked=mask_phone(phone),
                                 minutes=max(1, proofs.limits.code_ttl_seconds // 60))
        return []


def ended() -> list[EventType]:
    """Events that end the running form without its phone (the final action then does nothing)."""
    return [SlotSet("phone", None), SlotSet(CODE_SLOT, None), SlotSet("requested_slot", None)]
