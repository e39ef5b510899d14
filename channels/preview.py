"""What an answer becomes on each channel, computed by the channels' own renderers.

The staff console shows it before an answer is published (the app server hands
:func:`render_previews` to the console, which never imports ``channels``), so what staff
see is what SMS senders and callers get: the first SMS page as the SMS adapter cuts it,
with its "更多" hint, and the sentences the hotline reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.core import BotMessage
from channels.sms import render as sms_render
from channels.sms import segments
from channels.sms.adapter import SmsSettings
from channels.voice import render as voice_render


@dataclass(frozen=True)
class SmsPreview:
    """An answer as SMS.

    Attributes:
        encoding: ``GSM-7`` or ``UCS-2`` of the whole answer.
        units: length of the whole answer in the encoding's units.
        segments: parts the whole answer would need.
        per_part: units per part at that length (160/153 or 70/67).
        parts: the first reply as sent (within the budget, with the "更多" hint when cut), part by part.
        cut_text: what waits for "更多" (empty when it all fits).
        max_parts: the budget (``SMS_MAX_PARTS``).
    """

    encoding: str
    units: int
    segments: int
    per_part: int
    parts: list[str]
    cut_text: str
    max_parts: int

    @property
    def over_budget(self) -> bool:
        """Whether the answer is longer than the part budget."""
        return bool(self.cut_text)


@dataclass(frozen=True)
class ChannelPreviews:
    """The answer on SMS and on the hotline (mail and web chat show the text itself)."""

    sms: SmsPreview
    spoken: list[str]


def render_previews(text: str, max_parts: int | None = None) -> ChannelPreviews:
    """Render ``text`` as the SMS and voice channels would answer it.

    Args:
        text: the answer.
        max_parts: the SMS budget (default: ``SMS_MAX_PARTS`` as the SMS channel reads it).
    """
    budget = max_parts or SmsSettings.from_env().max_parts
    page = sms_render.compose([BotMessage(text=text)], budget)
    sms = SmsPreview(encoding=segments.encoding(text), units=segments.units(text), segments=segments.parts(text),
                     per_part=segments.per_part(text), parts=segments.split(page.text), cut_text=page.rest,
                     max_parts=budget)
    return ChannelPreviews(sms=sms, spoken=voice_render.sentences(text))
