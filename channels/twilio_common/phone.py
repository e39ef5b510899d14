"""Phone numbers of Twilio webhooks: E.164 normalisation (region CN) and the pseudonymous ids built on them."""

from __future__ import annotations

import phonenumbers

from channels.core import hash_sender

DEFAULT_REGION = "CN"


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """The number in E.164 (``+8613900001234``), or None when it is not a possible phone number.

    Args:
        raw: the number as Twilio or a citizen wrote it (``+86 139 0000 1234``, ``13900001234``).
        region: region assumed for numbers without a country code.
    """
    text = (raw or "").strip()
    if not text or len(text) > 40:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_mobile(e164: str) -> bool:
    """True for valid numbers that can receive SMS (mobile, or mobile-or-fixed-line where undecidable)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number):
        return False
    kind = phonenumbers.number_type(number)
    return kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def address_key(raw: str) -> str:
    """The stable identity of a number: its E.164 form, or the stripped raw value when unparseable."""
    return to_e164(raw) or (raw or "").strip()


def number_hash(raw: str) -> str:
    """Pseudonym of a phone number (HMAC of its E.164 form): opt-out key and sender id suffix."""
    return hash_sender(address_key(raw))
