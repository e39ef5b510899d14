"""The bot's messages → Telegram messages, as :data:`CAPABILITIES` declares.

Answers are split at Telegram's 4096-character limit, native buttons become inline keyboards
(structured hints are for the core and for channels without buttons: nothing of them is
shown here).

Callback data must be at most 64 bytes, so a button carries ``o:<set>:<index>`` (ASCII),
and the option set (titles and payloads, often Chinese) is stored as a ChannelState note
under ``opt:<set>`` for the chat.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from channels.core import BotMessage, Capabilities
from channels.telegram import texts

MAX_CHARS = 4096
CAPABILITIES = Capabilities(max_chars=MAX_CHARS, buttons=True, links=True, speech=False, rich_text=False)
CALLBACK_RE = re.compile(r"o:([0-9a-f]{8}):(\d{1,2})")


@dataclass(frozen=True)
class OptionSet:
    """Buttons of one bot message, stored so a callback can be mapped back."""

    set_id: str
    titles: tuple[str, ...]
    payloads: tuple[str, ...]

    @property
    def note_key(self) -> str:
        """The ChannelState note key of this set."""
        return f"opt:{self.set_id}"

    def to_note(self) -> dict[str, list[str]]:
        """JSON form for the note."""
        return {"titles": list(self.titles), "payloads": list(self.payloads)}


@dataclass(frozen=True)
class OutgoingMessage:
    """One ``sendMessage`` call."""

    text: str
    keyboard: InlineKeyboardMarkup | None = None
    options: OptionSet | None = None


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters, at line or sentence ends when possible."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = window.rfind("\n")
        if cut < limit // 2:
            cut = max(window.rfind(p) for p in "。！？；.!?")
            cut = cut + 1 if cut >= limit // 2 else limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def parse_callback(data: str | None) -> tuple[str, int] | None:
    """``o:<set>:<index>`` → (set id, index), or None for anything else."""
    match = CALLBACK_RE.fullmatch(data or "")
    return (match.group(1), int(match.group(2))) if match else None


def render(messages: Sequence[BotMessage], new_set_id: object = None) -> list[OutgoingMessage]:
    """Render the core's messages for Telegram.

    Args:
        messages: the core's answer.
        new_set_id: a callable returning a fresh option-set id (tests pass a fixed one).

    Returns:
        The messages to send, in order; those with buttons carry their :class:`OptionSet`.
    """
    make_id = new_set_id if callable(new_set_id) else (lambda: secrets.token_hex(4))
    out: list[OutgoingMessage] = []
    for message in messages:
        text = message.text.strip()
        if message.image:
            text = (text + "\n" + message.image).strip()
        chunks = split_text(text, CAPABILITIES.max_chars or MAX_CHARS) if text else []
        if not message.buttons or not CAPABILITIES.buttons:
            out.extend(OutgoingMessage(chunk) for chunk in chunks)
            continue
        buttons = message.buttons[:20]
        options = OptionSet(set_id=str(make_id()), titles=tuple(b.title for b in buttons),
                            payloads=tuple(b.payload for b in buttons))
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(b.title[:60], callback_data=f"o:{options.set_id}:{i}")]
                                         for i, b in enumerate(buttons)])
        if not chunks:
            chunks = [texts.CHOOSE]
        out.extend(OutgoingMessage(chunk) for chunk in chunks[:-1])
        out.append(OutgoingMessage(chunks[-1], keyboard, options))
    return out
