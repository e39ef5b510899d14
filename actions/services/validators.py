"""Validation, normalisation and masking of citizens' personal data (phone and ID numbers).

Everything here is pure: no tracker, no network. Inputs are free text from any channel, so
every function accepts arbitrary strings (full-width digits included) without raising,
except :func:`id_check_digit`, whose argument is programmer-supplied.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from datetime import date, datetime, timedelta, timezone

import phonenumbers
from phonenumbers import PhoneNumberType

SENDER_HASH_SALT_ENV = "SENDER_HASH_SALT"
# Pseudonymisation aid for logs, not a secret: without the variable, hashes stay stable.
DEFAULT_SENDER_HASH_SALT = "citizen-bot"

# China has observed no daylight saving time since 1991, so a fixed offset is exact.
_CN_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_PHONE_TYPES = _MOBILE_TYPES | {PhoneNumberType.FIXED_LINE}
# phonenumbers refuses longer input anyway; checking first keeps NFKC on huge text cheap.
_MAX_PHONE_INPUT = 250

# GB 11643-1999 / ISO 7064 MOD 11-2: weight of position i is 2**(17 - i) mod 11.
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK_CHARS = "10X98765432"
_ID_RE = re.compile(r"[0-9]{17}[0-9X]")
# Provinces, Taiwan (71), Hong Kong / Macao / Taiwan residence permits (81–83) and
# foreigners' permanent residence cards (91).
_PROVINCE_CODES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66),
     71, 81, 82, 83, 91]
)
_EARLIEST_BIRTH = date(1900, 1, 1)


def _phone(text: str, allowed: frozenset[int]) -> str | None:
    if not isinstance(text, str) or len(text) > _MAX_PHONE_INPUT:
        return None
    try:
        number = phonenumbers.parse(unicodedata.normalize("NFKC", text), "CN")
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_number(number) != "CN" or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in allowed:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_cn_mobile(text: str) -> str | None:
    """Normalise a mainland China mobile number to E.164.

    Accepts the usual ways of writing one: ``+86 139 0000 1234``, ``0086…``,
    ``139-0000-1234``, full-width digits ``１３９００００１２３４``.

    Args:
        text: what the citizen typed or said.

    Returns:
        e.g. ``"+8613900001234"``, or None unless phonenumbers deems it a valid mainland
        mobile number (fixed lines, other regions and service numbers are rejected).
    """
    return _phone(text, _MOBILE_TYPES)


def normalize_cn_phone(text: str) -> str | None:
    """Normalise a mainland China mobile or fixed-line number (``020-12345678``) to E.164.

    Returns:
        e.g. ``"+862012345678"``, or None if it is not a valid mainland mobile or fixed line.
    """
    return _phone(text, _PHONE_TYPES)


def id_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character (ISO 7064 MOD 11-2) for a resident ID.

    Args:
        first17: the first 17 characters, all ASCII digits.

    Returns:
        ``"0"``–``"9"`` or ``"X"``.

    Raises:
        ValueError: ``first17`` is not exactly 17 ASCII digits.
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("first17 must be exactly 17 ASCII digits")
    total = sum(int(ch) * weight for ch, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def _birth_date(id_number: str) -> date | None:
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def validate_id_number(text: str, today: date | None = None) -> str | None:
    """Validate an 18-character PRC resident identity number (GB 11643-1999).

    Checks the shape (17 digits and a check character), the province code, a real birth
    date between 1900-01-01 and today, and the check character. Surrounding and inner
    whitespace is ignored and full-width characters are accepted.

    Args:
        text: what the citizen typed.
        today: the reference day for "not in the future" (default: today in Asia/Shanghai).

    Returns:
        The ID with an upper-case ``X``, or None if it is not valid.
    """
    if not isinstance(text, str) or len(text) > 64:
        return None
    candidate = "".join(unicodedata.normalize("NFKC", text).split()).upper()
    if not _ID_RE.fullmatch(candidate):
        return None
    if int(candidate[:2]) not in _PROVINCE_CODES:
        return None
    born = _birth_date(candidate)
    latest = today if today is not None else datetime.now(_CN_TZ).date()
    if born is None or not _EARLIEST_BIRTH <= born <= latest:
        return None
    if id_check_digit(candidate[:17]) != candidate[17]:
        return None
    return candidate


def last4(value: str) -> str:
    """The last four characters of ``value``, upper-cased (whole value if shorter).

    Surrounding whitespace is ignored and full-width characters are folded, so a citizen's
    ``"１２３ｘ"`` compares equal to ``"123X"``.
    """
    return unicodedata.normalize("NFKC", value).strip()[-4:].upper()


def matches_last4(given: str, full: str) -> bool:
    """Whether ``given`` equals the last four characters of ``full`` (e.g. an ID on file).

    The comparison is constant-time, so response timing does not reveal how many
    characters were right. ``given`` must be exactly four characters after folding.
    """
    offered = unicodedata.normalize("NFKC", given).strip().upper()
    expected = last4(full)
    if len(offered) != 4 or len(expected) != 4:
        return False
    return hmac.compare_digest(offered.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def hash_sender(sender_id: str, salt: str | None = None) -> str:
    """A short, stable pseudonym of a sender id for logs.

    Args:
        sender_id: the channel-scoped sender id (phone number, chat id…).
        salt: HMAC key; default ``SENDER_HASH_SALT`` from the environment, else the
            project default (this pseudonymises logs; it is not a secret).

    Returns:
        The first 16 hex characters of HMAC-SHA256(salt, sender_id).
    """
    key = salt if salt is not None else (os.environ.get(SENDER_HASH_SALT_ENV) or DEFAULT_SENDER_HASH_SALT)
    digest = hmac.new(
        key.encode("utf-8", "surrogatepass"), sender_id.encode("utf-8", "surrogatepass"), hashlib.sha256
    )
    return digest.hexdigest()[:16]
