"""Masking of personal data: the one rule set for logs, records, staff pages and stored conversations.

Standard library only, so every process can import it: the action server (unanswered
questions, cases), the staff console, the app server's logs, and the Rasa venv (tracker
store, JSON logs), which has no ``phonenumbers``.

- 18-character ID numbers keep the first 3 and the last character: ``110**************X``
- mainland mobiles keep the first 3 and last 4 digits: ``139****1234``
- e-mail addresses keep the first character of the local part: ``a***@example.com``
- any other run of 11 or more digits keeps the first 3 and last 4 digits, except
  12-digit application numbers (``YYYYMMDD`` + 4 digits), which are not personal.

Full-width digits are recognised; dates and all other text are left alone.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Any

_EMAIL_LOCAL = r"[A-Za-z0-9._%+-]{1,64}(?=@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24})"
_SEP = r"[ -]?"
_PII_RE = re.compile(
    rf"(?P<email>{_EMAIL_LOCAL})"
    rf"|(?P<id>(?<![0-9])[0-9]{{6}}{_SEP}[0-9]{{8}}{_SEP}[0-9]{{3}}[0-9Xx](?![0-9]))"
    rf"|(?P<mobile>(?<![0-9])(?P<cc>(?:\+|00)?86{_SEP})?1[3-9][0-9]{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}(?![0-9]))"
    r"|(?P<digits>(?<![0-9])[0-9]{11,})"
)
# Quick pre-check: without a digit or an at sign nothing can match.
_MAYBE_PII = re.compile(r"[@＠\d]")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:
        return chr(code - 0xFEE0)
    if code > 0x7F:
        digit = unicodedata.decimal(ch, None)
        if digit is not None:
            return str(digit)
    return ch


def _fold(text: str) -> str:
    # One character for one character, so match positions map back onto the original.
    return "".join(map(_fold_char, text))


def _mask_digits(original: str, folded: str, keep_head: int, keep_tail: int) -> str:
    positions = [i for i, ch in enumerate(folded) if ch.isdigit() or ch in "Xx"]
    hidden = set(positions[keep_head : len(positions) - keep_tail])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(original))


def _is_application_number(run: str) -> bool:
    if len(run) != 12 or not run.startswith("20"):
        return False
    try:
        date(int(run[:4]), int(run[4:6]), int(run[6:8]))
    except ValueError:
        return False
    return True


def _mask_match(text: str, match: re.Match[str]) -> str:
    source, folded = text[match.start() : match.end()], match.group(0)
    kind = match.lastgroup
    if kind == "email":
        return source[0] + "***"
    if kind == "id":
        return _mask_digits(source, folded, 3, 1)
    if kind == "mobile":
        country_code_digits = sum(ch.isdigit() for ch in match.group("cc") or "")
        return _mask_digits(source, folded, country_code_digits + 3, 4)
    if kind == "digits" and _is_application_number(folded):
        return source
    return _mask_digits(source, folded, 3, 4)


def mask_text(text: str) -> str:
    """Mask ID numbers, phone numbers and e-mail addresses in ``text``.

    Args:
        text: any text (never raises on odd input).

    Returns:
        ``text`` with personal data masked and everything else unchanged.
    """
    if not text or not _MAYBE_PII.search(text):
        return text
    pieces: list[str] = []
    last = 0
    for match in _PII_RE.finditer(_fold(text)):
        pieces.append(text[last : match.start()])
        pieces.append(_mask_match(text, match))
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


mask_pii = mask_text  # the name the action server and the staff console use


def mask_phone(e164: str) -> str:
    """A stored phone number as citizens and staff see it: ``+8613900001234`` → ``139****1234``.

    The same shape :func:`mask_text` gives a mobile in free text (first 3 and last 4 digits).
    """
    digits = e164.strip().removeprefix("+86")
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 7 else "****"


def contains_pii(text: str) -> bool:
    """Whether masking would change ``text``."""
    return isinstance(text, str) and mask_text(text) != text


def mask_value(value: Any, skip_keys: frozenset[str] = frozenset()) -> Any:
    """Mask every string inside a JSON-like value (dicts, lists, strings, scalars).

    Args:
        value: the value; not modified.
        skip_keys: dict keys whose values are identifiers, not text (left as they are).

    Returns:
        A masked copy.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: (v if k in skip_keys else mask_value(v, skip_keys)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v, skip_keys) for v in value]
    return value


def value_contains_pii(value: Any) -> bool:
    """Whether any string inside a JSON-like value holds personal data."""
    return mask_value(value) != value
