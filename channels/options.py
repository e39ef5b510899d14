"""Numbered options for text-only channels (SMS, WeChat): buttons become "1. …" lines and a bare digit picks one.

The bot's buttons are listed under the reply as numbered lines; their payloads are kept
as the ``options`` note of the conversation in :class:`~channels.state.ChannelState`
(shared by all workers), so a later bare ``1``/``１``/``1。`` is sent to the core as the
payload of option 1. The footer wording is the channel's own.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from channels.core import BotMessage, Button
from channels.state import ChannelState

MAX_OPTIONS = 9
OPTIONS_NOTE = "options"
TRIM = " \t\r\n。.!！~～"


def options_of(messages: Sequence[BotMessage]) -> tuple[Button, ...]:
    """The buttons of all messages, in order, at most :data:`MAX_OPTIONS`."""
    return tuple(b for m in messages for b in m.buttons)[:MAX_OPTIONS]


def options_block(options: Sequence[Button], footer: str) -> str:
    """``\\n1. 标题\\n2. 标题\\n<footer>`` (empty without options)."""
    if not options:
        return ""
    lines = [f"{i}. {b.title}" for i, b in enumerate(options, start=1)]
    return "\n" + "\n".join(lines) + "\n" + footer


def normalise(text: str) -> str:
    """Width-folded (NFKC), trimmed and upper-cased form used to recognise keywords and digits."""
    return unicodedata.normalize("NFKC", text).strip(TRIM).upper()


def bare_number(text: str) -> int | None:
    """The number when ``text`` is only one or two digits (``１`` and ``1。`` count as 1), else None."""
    key = normalise(text)
    return int(key) if key and len(key) <= 2 and key.isascii() and key.isdigit() else None


def remember_options(state: ChannelState, channel: str, conversation: str, options: Sequence[Button],
                     ttl_s: float) -> None:
    """Keep the payloads of the options just offered (or forget the old ones when none were)."""
    if options:
        state.put_note(channel, conversation, OPTIONS_NOTE, [b.payload for b in options], ttl_s=ttl_s)
    else:
        state.delete_note(channel, conversation, OPTIONS_NOTE)


def recall_options(state: ChannelState, channel: str, conversation: str) -> list[str]:
    """The payloads of the options last offered in the conversation ([] when none or expired)."""
    value = state.get_note(channel, conversation, OPTIONS_NOTE)
    return [str(p) for p in value] if isinstance(value, list) else []
