"""Twilio SMS webhook form → :class:`SmsInbound`, and what the citizen's text asks for (:class:`Intent`)."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.core import InboundMessage
from channels.options import bare_number, normalise
from channels.sms import texts
from common.identity import number_hash, to_e164

CHANNEL = "sms"
SENDER_PREFIX = "sms-"
_SID_RE = re.compile(r"[A-Za-z0-9]{10,64}")


@dataclass(frozen=True)
class SmsInbound:
    """One inbound SMS, vendor details removed.

    Attributes:
        message_sid: Twilio's ``MessageSid`` (the dedupe key).
        phone: the sender's number in E.164, or None when it is not a phone number.
        number_hash: pseudonym of the number (opt-out key; logs).
        body: the text as sent, stripped.
        num_media: attached media count (MMS); media are not processed.
    """

    message_sid: str
    phone: str | None
    number_hash: str
    body: str
    num_media: int = 0

    @property
    def sender_id(self) -> str:
        """The conversation id the core sees: ``sms-`` + hash of the E.164 number."""
        return SENDER_PREFIX + self.number_hash

    def to_core(self, text: str) -> InboundMessage:
        """The message for the core; the raw number travels only in ``metadata.phone`` (a booking may need it)."""
        metadata: dict[str, Any] = {"phone": self.phone} if self.phone else {}
        return InboundMessage(channel=CHANNEL, sender_id=self.sender_id, text=text,
                              message_id=self.message_sid, metadata=metadata)


def parse_webhook(form: Mapping[str, Any]) -> SmsInbound | None:
    """Parse Twilio's POST parameters; None when ``MessageSid`` or ``From`` is missing or malformed."""
    sid = str(form.get("MessageSid") or form.get("SmsSid") or "").strip()
    sender = str(form.get("From") or "").strip()
    if not _SID_RE.fullmatch(sid) or not sender:
        return None
    try:
        media = int(str(form.get("NumMedia") or "0"))
    except ValueError:
        media = 0
    return SmsInbound(message_sid=sid, phone=to_e164(sender), number_hash=number_hash(sender),
                      body=str(form.get("Body") or "").strip(), num_media=max(media, 0))


class Intent(enum.Enum):
    """What a citizen's SMS asks of the channel itself (everything else goes to the core)."""

    EMPTY = "empty"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    MORE = "more"
    DIGIT = "digit"   # a bare number: an option of the last message, or "1" for more
    TEXT = "text"


def normalise_keyword(body: str) -> str:
    """Width-folded (NFKC), trimmed and upper-cased form used to recognise keywords and digits."""
    return normalise(body)


def classify(body: str) -> tuple[Intent, int | None]:
    """The channel intent of ``body``; for ``DIGIT`` also the number (``１`` and ``1。`` count as 1)."""
    key = normalise_keyword(body)
    if not key:
        return Intent.EMPTY, None
    if key in texts.OPT_OUT_WORDS:
        return Intent.OPT_OUT, None
    if key in texts.OPT_IN_WORDS:
        return Intent.OPT_IN, None
    if key in texts.HELP_WORDS:
        return Intent.HELP, None
    if key in texts.MORE_WORDS:
        return Intent.MORE, None
    number = bare_number(key)
    if number is not None:
        return Intent.DIGIT, number
    return Intent.TEXT, None
