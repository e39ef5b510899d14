"""SMS length arithmetic: GSM-7 vs UCS-2 encoding and the number of parts a text is sent in.

One character outside the GSM 03.38 alphabet (any Chinese character) makes the whole SMS
UCS-2: 70 UTF-16 code units fit a single message, 67 per part of a concatenated one.
Characters outside the Basic Multilingual Plane (most emoji) take two code units and are
never split across parts. GSM-7 texts fit 160 septets single, 153 per part; the
extension characters (``^{}[]~|€\\`` and form feed) take two septets and are never split.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

UCS2_SINGLE, UCS2_PART = 70, 67
GSM7_SINGLE, GSM7_PART = 160, 153


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic or extension table."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def unit_costs(text: str) -> list[int]:
    """Cost of each character in its encoding's units (septets for GSM-7, UTF-16 code units for UCS-2)."""
    if is_gsm7(text):
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def encoding(text: str) -> str:
    """``GSM-7`` or ``UCS-2``."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def units(text: str) -> int:
    """Total length in the encoding's units."""
    return sum(unit_costs(text))


def split(text: str) -> list[str]:
    """The pieces ``text`` is sent in, one per SMS part (empty for the empty text)."""
    if not text:
        return []
    costs = unit_costs(text)
    single, per_part = (GSM7_SINGLE, GSM7_PART) if is_gsm7(text) else (UCS2_SINGLE, UCS2_PART)
    if sum(costs) <= single:
        return [text]
    pieces, start, used = [], 0, 0
    for i, cost in enumerate(costs):  # a two-unit character never straddles two parts
        if used + cost > per_part:
            pieces.append(text[start:i])
            start, used = i, 0
        used += cost
    pieces.append(text[start:])
    return pieces


def parts(text: str) -> int:
    """How many SMS parts ``text`` is sent in (0 for the empty text)."""
    return len(split(text))


def per_part(text: str) -> int:
    """Units per part for ``text``: 160/153 (GSM-7) or 70/67 (UCS-2), by whether it needs one part."""
    single, multi = (GSM7_SINGLE, GSM7_PART) if is_gsm7(text) else (UCS2_SINGLE, UCS2_PART)
    return single if units(text) <= single else multi


def fits(text: str, max_parts: int) -> bool:
    """True when ``text`` is sent in at most ``max_parts`` parts."""
    return parts(text) <= max_parts

