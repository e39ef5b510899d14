"""Bot messages → WeChat text messages (plain text, at most 2,048 UTF-8 bytes each) and passive reply XML.

Rules (declared in :data:`CAPABILITIES`): no HTML and no native buttons on a subscription
chat, so buttons become numbered options under the text (:mod:`channels.options`, as on
SMS) and a bare digit picks one; images become their link; the texts of one answer are
joined by blank lines, the message that asked the question (the one with the buttons) goes
last with its options. An answer over the byte limit is split at paragraph, then sentence,
then clause ends, never inside a character, and the options stay whole in the last part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from channels.core import BotMessage, Button, Capabilities
from channels.options import options_block, options_of
from channels.wechat import texts

MAX_BYTES = 2048
CAPABILITIES = Capabilities(max_chars=None, buttons=False, links=True, speech=False, rich_text=False)
BREAKS = ("\n", "。！？；!?;", "，、：,:）)")
# A cut earlier than this share of the allowed length wastes too much room; cut at a weaker boundary.
MIN_CUT_SHARE = 0.5


@dataclass(frozen=True)
class WeChatAnswer:
    """The core's answer ready to send.

    Attributes:
        parts: the text messages, in order, each within :data:`MAX_BYTES`.
        options: the numbered options offered (digit n ↦ ``options[n-1]``).
    """

    parts: tuple[str, ...]
    options: tuple[Button, ...] = ()


def nbytes(text: str) -> int:
    """Length in UTF-8 bytes (what WeChat counts)."""
    return len(text.encode("utf-8"))


def _fitting_chars(text: str, limit: int) -> int:
    """How many leading characters of ``text`` fit in ``limit`` bytes."""
    used = 0
    for i, ch in enumerate(text):
        used += len(ch.encode("utf-8"))
        if used > limit:
            return i
    return len(text)


def split(text: str, limit: int = MAX_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, cut at the strongest boundary near the end."""
    pieces: list[str] = []
    rest = text.strip()
    while nbytes(rest) > limit:
        fit = max(_fitting_chars(rest, limit), 1)
        window = rest[:fit]
        cut = fit
        for ends in BREAKS:
            best = max((i + 1 for i, ch in enumerate(window) if ch in ends), default=0)
            if best >= fit * MIN_CUT_SHARE:
                cut = best
                break
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _texts(messages: Sequence[BotMessage]) -> list[str]:
    out: list[str] = []
    for m in messages:
        block = "\n".join(t for t in (m.text.strip(), (m.image or "").strip()) if t)
        if block:
            out.append(block)
    return out


def compose(messages: Sequence[BotMessage], limit: int = MAX_BYTES) -> WeChatAnswer:
    """Render the core's answer; an empty answer gives no parts (the caller says so)."""
    options = options_of(messages)
    last = max((i for i, m in enumerate(messages) if m.buttons), default=None)
    ordered = list(messages) if last is None else [*messages[:last], *messages[last + 1:], messages[last]]
    body = "\n\n".join(_texts(ordered))
    footer, word = texts.text("options_footer"), texts.text("option_word")
    block = options_block(options, footer, word).strip("\n") if options else ""
    if not block:
        return WeChatAnswer(parts=tuple(split(body, limit)))
    whole = (body + "\n" + block).strip()
    if nbytes(whole) <= limit:
        return WeChatAnswer(parts=(whole,), options=options)
    room = limit - nbytes(block) - 1
    if room < limit // 4:  # the options alone nearly fill a message: split everything as text
        return WeChatAnswer(parts=tuple(split(whole, limit)), options=options)
    # The question and its options end the answer: fill the last part with as much text as fits.
    head = split(body, limit)
    tail_text = head.pop() if head else ""
    if nbytes(tail_text) > room:
        cut = split(tail_text, room)
        head.extend(cut[:-1])
        tail_text = cut[-1]
    return WeChatAnswer(parts=(*head, (tail_text + "\n" + block).strip()), options=options)


def passive_reply(openid: str, account: str, text: str, timestamp: int) -> str:
    """A passive text reply (``<xml><MsgType>text</MsgType>…``), rendered by wechatpy's ``TextReply``."""
    from wechatpy.replies import TextReply

    return str(TextReply(source=account, target=openid, content=text, time=timestamp).render())
