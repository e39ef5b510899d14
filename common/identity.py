"""Who someone is: sender pseudonyms, phone numbers (E.164) and resident ID numbers.

The one place for these rules in every process: :func:`hash_sender` names a sender in
logs and ids (actions and every channel), :func:`to_e164` / :func:`is_mobile` /
:func:`number_hash` serve the Twilio channels, :func:`normalize_cn_mobile` and the ID
checks serve the dialogue.

Everything here is pure: no tracker, no network. Inputs are free text from any channel, so
every function accepts arbitrary strings (full-width digits included) without raising,
except :func:`id_check_digit`, whose argument is programmer-supplied. ``phonenumbers`` is
imported on first use, so the module (and :func:`hash_sender`) also imports in the Rasa venv.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Any

from common.clock import city_today

SENDER_HASH_SALT_ENV = "SENDER_HASH_SALT"

DEFAULT_REGION = "CN"
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


def _phonenumbers() -> Any:
    import phonenumbers

    return phonenumbers


@lru_cache(maxsize=2)
def _types(with_fixed_line: bool) -> frozenset[int]:
    kind = _phonenumbers().PhoneNumberType
    mobile = frozenset({kind.MOBILE, kind.FIXED_LINE_OR_MOBILE})
    return mobile | {kind.FIXED_LINE} if with_fixed_line else mobile


def _phone(text: str, allowed: frozenset[int]) -> str | None:
    phonenumbers = _phonenumbers()
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
    return _phone(text, _types(False))


def normalize_cn_phone(text: str) -> str | None:
    """Normalise a mainland China mobile or fixed-line number (``020-12345678``) to E.164.

    Returns:
        e.g. ``"+862012345678"``, or None if it is not a valid mainland mobile or fixed line.
    """
    return _phone(text, _types(True))


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
    latest = today if today is not None else city_today()
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


def sender_hash_salt() -> str:
    """``SENDER_HASH_SALT``, else the embedded profile's salt generated once into ``var/``."""
    return os.environ.get(SENDER_HASH_SALT_ENV, "").strip() or _install_salt()


@lru_cache(maxsize=1)
def _install_salt() -> str:
    from common.secret_env import install_secret

    return install_secret(SENDER_HASH_SALT_ENV)


def hash_sender(sender_id: str, salt: str | None = None) -> str:
    """A short, stable pseudonym of a sender id for logs.

    Args:
        sender_id: the channel-scoped sender id (phone number, chat id…).
        salt: HMAC key; default ``SENDER_HASH_SALT`` from the environment, else the
            embedded profile's per-install salt in ``var/sender_hash_salt`` (a public
            default would let anyone reverse hashed phone numbers; off-loopback the
            deployables refuse to start without the variable).

    Returns:
        The first 16 hex characters of HMAC-SHA256(salt, sender_id).
    """
    key = salt if salt is not None else sender_hash_salt()
    digest = hmac.new(
        key.encode("utf-8", "surrogatepass"), sender_id.encode("utf-8", "surrogatepass"), hashlib.sha256
    )
    return digest.hexdigest()[:16]


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """The number in E.164 (``+8613900001234``), or None when it is not a possible phone number.

    Args:
        raw: the number as Twilio or a citizen wrote it (``+86 139 0000 1234``, ``13900001234``).
        region: region assumed for numbers without a country code.
    """
    phonenumbers = _phonenumbers()
    text = (raw or "").strip()
    if not text or len(text) > 40:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def is_mobile(e164: str) -> bool:
    """True for valid numbers that can receive SMS (mobile, or mobile-or-fixed-line where undecidable)."""
    phonenumbers = _phonenumbers()
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number):
        return False
    return phonenumbers.number_type(number) in _types(False)


def address_key(raw: str) -> str:
    """The stable identity of a number: its E.164 form, or the stripped raw value when unparseable."""
    return to_e164(raw) or (raw or "").strip()


def number_hash(raw: str) -> str:
    """Pseudonym of a phone number (HMAC of its E.164 form): opt-out key and sender id suffix."""
    return hash_sender(address_key(raw))
