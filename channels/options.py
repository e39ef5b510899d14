"""Numbered options for text-only channels (SMS, WeChat): buttons become "1. …" lines and a bare digit picks one.

The options come from the closed question's structured hint (its keys: a rating's 5 is
非常满意), else the buttons of all messages numbered 1..n (:func:`channels.core.keyed_options`).
Their keys and payloads are kept as the ``options`` note of the conversation in
:class:`~channels.state.ChannelState` (shared by all workers), so a later bare ``5``/``５``/``5。``
is sent to the core as the payload of the option with key 5. Options offered without a key
(:data:`~channels.core.NO_KEY`) are listed as words to reply with. Footer and word wording are
the channel's own.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from channels.core import NO_KEY, BotMessage, Button, keyed_options, option_for
from channels.state import ChannelState

MAX_OPTIONS = 9
OPTIONS_NOTE = "options"
TRIM = " \t\r\n。.!！~～"

__all__ = ["MAX_OPTIONS", "bare_number", "normalise", "option_for", "options_block", "options_of",
           "recall_options", "remember_options"]


def options_of(messages: Sequence[BotMessage]) -> tuple[Button, ...]:
    """The options of the answer with their keys, at most :data:`MAX_OPTIONS` numbered ones."""
    return keyed_options(messages, MAX_OPTIONS)


def options_block(options: Sequence[Button], footer: str, word: str = "") -> str:
    """``\\n5. 非常满意\\n4. 满意…\\n<footer>`` (empty without options).

    Args:
        options: the options as :func:`options_of` returns them.
        footer: the line under the numbered options ("请回复序号选择").
        word: template with ``{title}`` for an option offered without a number; such options
            are left out when it is empty.
    """
    numbered = [b for b in options if b.key != NO_KEY]
    words = [b for b in options if b.key == NO_KEY] if word else []
    if not numbered and not words:
        return ""
    lines = [f"{b.key}. {b.title}" for b in numbered]
    if numbered:
        lines.append(footer)
    lines += [word.format(title=b.title) for b in words]
    return "\n" + "\n".join(lines)


def normalise(text: str) -> str:
    """Width-folded (NFKC), trimmed and upper-cased form used to recognise keywords and digits."""
    return unicodedata.normalize("NFKC", text).strip(TRIM).upper()


def bare_number(text: str) -> int | None:
    """The number when ``text`` is only one or two digits (``１`` and ``1。`` count as 1), else None."""
    key = normalise(text)
    return int(key) if key and len(key) <= 2 and key.isascii() and key.isdigit() else None


def remember_options(state: ChannelState, channel: str, conversation: str, options: Sequence[Button],
                     ttl_s: float) -> None:
    """Keep the key and payload of each numbered option just offered (or forget the old ones)."""
    numbered = [{"key": b.key, "payload": b.payload} for b in options if b.key != NO_KEY]
    if numbered:
        state.put_note(channel, conversation, OPTIONS_NOTE, numbered, ttl_s=ttl_s)
    else:
        state.delete_note(channel, conversation, OPTIONS_NOTE)


def recall_options(state: ChannelState, channel: str, conversation: str) -> list[dict[str, str]]:
    """The key and payload of each option last offered in the conversation ([] when none or expired)."""
    value = state.get_note(channel, conversation, OPTIONS_NOTE)
    if not isinstance(value, list):
        return []
    return [{"key": str(o.get("key") or ""), "payload": str(o.get("payload") or "")}
            for o in value if isinstance(o, dict)]
