"""How an answer reaches each channel: SMS segments, spoken text, mail and web chat.

Pure functions for the staff console's preview (self-contained on purpose: knowledge
never imports ``channels``). The real renderers live with each channel; this shows
staff the limits that matter when they write an answer.

SMS: one message holds 160 GSM-7 characters or 70 UCS-2 code units; a concatenated
message holds 153 or 67 per part. Any character outside the GSM 03.38 alphabet (every
Chinese character) makes the whole text UCS-2. Emoji outside the BMP take two units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "^{}\\[~]|€\f"
SMS_MAX_PARTS = 3
URL_RE = re.compile(r"https?://[^\s<>\"'，。；！？）)]+|www\.[^\s<>\"'，。；！？）)]+", re.IGNORECASE)
EMOJI_RE = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f900-\U0001f9ff\u2b00-\u2bff\ufe0f\u200d]+"
)
MARKUP_RE = re.compile(r"[*#>`_~]+")
SENTENCE_END_RE = re.compile(r"(?<=[。！？；!?;])|\n+")
SPOKEN_MAX_CHARS = 40


@dataclass(frozen=True)
class SmsPreview:
    """An answer as SMS.

    Attributes:
        encoding: ``GSM-7`` or ``UCS-2``.
        units: length in encoding units (septets or UTF-16 code units).
        segments: parts the full text needs.
        per_part: units per part at that length (160/153 or 70/67).
        parts: the text of each part that fits in the budget.
        cut_text: what the ``max_parts`` budget leaves out (empty when it all fits).
    """

    encoding: str
    units: int
    segments: int
    per_part: int
    parts: list[str]
    cut_text: str

    @property
    def over_budget(self) -> bool:
        """Whether the text is longer than the part budget."""
        return bool(self.cut_text)


def _gsm_units(ch: str) -> int:
    return 2 if ch in GSM7_EXTENSION else 1


def _ucs2_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def sms_preview(text: str, max_parts: int = SMS_MAX_PARTS) -> SmsPreview:
    """Segment ``text`` as an SMS and show where a ``max_parts`` budget cuts it."""
    gsm = all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)
    unit = _gsm_units if gsm else _ucs2_units
    single, multi = (160, 153) if gsm else (70, 67)
    units = sum(unit(ch) for ch in text)
    per_part = single if units <= single else multi
    segments = 0 if units == 0 else 1 if units <= single else -(-units // multi)
    if units <= single:
        return SmsPreview("GSM-7" if gsm else "UCS-2", units, segments, per_part, [text] if text else [], "")
    parts: list[str] = []
    current, used = "", 0
    for ch in text:
        cost = unit(ch)
        if used + cost > multi:  # a character never straddles two parts
            parts.append(current)
            if len(parts) == max_parts:
                break
            current, used = "", 0
        current += ch
        used += cost
    else:
        parts.append(current)
    return SmsPreview("GSM-7" if gsm else "UCS-2", units, segments, per_part, parts[:max_parts],
                      text[sum(len(p) for p in parts[:max_parts]):])


def spoken_sentences(text: str, max_chars: int = SPOKEN_MAX_CHARS) -> list[str]:
    """The answer as a voice channel would say it: no links, no emoji, short sentences."""
    text = URL_RE.sub("", text)
    text = EMOJI_RE.sub("", text)
    text = MARKUP_RE.sub("", text)
    out: list[str] = []
    for raw in SENTENCE_END_RE.split(text):
        sentence = re.sub(r"\s+", " ", raw).strip(" ，,：:")
        while len(sentence) > max_chars:
            cut = max((sentence.rfind(p, 0, max_chars) for p in "，,、："), default=-1)
            cut = cut + 1 if cut > 0 else max_chars
            out.append(sentence[:cut].rstrip("，,、：") + "。")
            sentence = sentence[cut:].strip()
        if sentence and re.search(r"\w", sentence):
            out.append(sentence)
    return out


def link_segments(text: str) -> list[tuple[str, bool]]:
    """``text`` split into (piece, is_url) so a template can link URLs and escape the rest."""
    out: list[tuple[str, bool]] = []
    last = 0
    for m in URL_RE.finditer(text):
        if m.start() > last:
            out.append((text[last:m.start()], False))
        out.append((m.group(0), True))
        last = m.end()
    if last < len(text):
        out.append((text[last:], False))
    return out


def urls(text: str) -> list[str]:
    """The links in ``text`` (voice drops them; the preview lists them)."""
    return URL_RE.findall(text)
