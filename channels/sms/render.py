"""Bot messages → SMS text within a part budget, and TwiML through twilio's ``MessagingResponse``.

Rules (declared in :data:`CAPABILITIES`): buttons become numbered options under the text;
images become their link; a reply longer than the budget is cut at a sentence boundary,
ends with a continuation hint and the remainder is returned for later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from channels.core import BotMessage, Button, Capabilities
from channels.sms import segments, texts

CAPABILITIES = Capabilities(max_chars=None, buttons=False, links=True, speech=False, rich_text=False)
MAX_OPTIONS = 9
SENTENCE_ENDS = "。！？；!?;\n"
CLAUSE_ENDS = "，、：,:）)"
# A cut earlier than this share of the allowed length wastes too much room; cut at a weaker boundary.
MIN_CUT_SHARE = 0.4


@dataclass(frozen=True)
class SmsPage:
    """One reply ready to send.

    Attributes:
        text: the reply (within the budget unless a single option list alone exceeds it).
        rest: the remainder of a cut reply ("" when complete).
        options: the numbered options offered, in order (digit n ↦ ``options[n-1]``).
    """

    text: str
    rest: str = ""
    options: tuple[Button, ...] = ()


def body_of(messages: Sequence[BotMessage]) -> str:
    """The texts (and image links) of ``messages`` joined by new lines; custom payloads are not shown."""
    lines: list[str] = []
    for m in messages:
        if m.text.strip():
            lines.append(m.text.strip())
        if m.image:
            lines.append(m.image)
    return "\n".join(lines)


def options_of(messages: Sequence[BotMessage]) -> tuple[Button, ...]:
    """The buttons of all messages, in order, at most :data:`MAX_OPTIONS`."""
    return tuple(b for m in messages for b in m.buttons)[:MAX_OPTIONS]


def options_block(options: Sequence[Button]) -> str:
    """``\\n1. 标题\\n2. 标题\\n请回复序号选择`` (empty without options)."""
    if not options:
        return ""
    lines = [f"{i}. {b.title}" for i, b in enumerate(options, start=1)]
    return "\n" + "\n".join(lines) + "\n" + texts.OPTIONS_FOOTER


def _cut_index(body: str, limit: int) -> int:
    """Where to cut ``body`` given that ``body[:limit]`` is the longest prefix that fits."""
    if limit >= len(body):
        return len(body)
    floor = int(limit * MIN_CUT_SHARE)
    for ends in (SENTENCE_ENDS, CLAUSE_ENDS):
        best = max((i + 1 for i in range(floor, limit) if body[i] in ends), default=0)
        if best > floor:
            return best
    return max(limit, 1)


def _longest_fitting_prefix(body: str, suffix: str, max_parts: int) -> int:
    """Largest n with ``body[:n].rstrip() + suffix`` within ``max_parts`` (binary search: parts grow with n)."""
    lo, hi = 0, len(body)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if segments.fits(body[:mid].rstrip() + suffix, max_parts):
            lo = mid
        else:
            hi = mid - 1
    return lo


def paginate(body: str, options: Sequence[Button], max_parts: int, more_by_digit: bool,
             prompt: str = "") -> SmsPage:
    """Fit ``body``, then ``prompt`` and the numbered ``options``, into ``max_parts`` SMS parts.

    Args:
        body: the reply text; cut at a sentence boundary when it does not fit.
        options: numbered options shown at the end (kept on the first page).
        max_parts: the budget of SMS parts.
        more_by_digit: the continuation hint says "回复 1" (only when no options are pending).
        prompt: the question the options answer ("请确认预约信息…"); kept whole with them, so a
            cut never separates the options from their question.
    """
    block = (("\n" + prompt.strip()) if prompt.strip() else "") + options_block(options)
    full = (body.strip() + block).strip()
    if segments.fits(full, max_parts):
        return SmsPage(text=full, options=tuple(options))
    hint = texts.MORE_HINT_DIGIT if more_by_digit and not options else texts.MORE_HINT_WORD
    suffix = hint + block
    limit = _longest_fitting_prefix(body, suffix, max_parts) if body.strip() else 0
    if limit == 0 and prompt.strip():  # the question itself is long: cut it like any text, options kept
        return paginate((body.strip() + "\n" + prompt.strip()).strip(), options, max_parts, more_by_digit)
    if limit == 0:  # the options alone exceed the budget: cut the whole text instead
        body, suffix = full, hint
        limit = _longest_fitting_prefix(body, suffix, max_parts)
    cut = _cut_index(body, limit)
    head, rest = body[:cut].rstrip(), body[cut:].strip()
    return SmsPage(text=head + suffix, rest=rest, options=tuple(options))


def more_text_of(messages: Sequence[BotMessage]) -> str:
    """The full text behind a short answer (the core's ``more_text`` hint), or ""."""
    for m in messages:
        value = (m.custom or {}).get("more_text")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def compose(messages: Sequence[BotMessage], max_parts: int) -> SmsPage:
    """The first page of the core's answer; the last message with buttons stays with its options.

    A short answer that carries the full text (``more_text``) ends with the "更多" hint, and
    the full text is the remainder "更多" sends next.
    """
    options = options_of(messages)
    more = more_text_of(messages)
    last_with_buttons = max((i for i, m in enumerate(messages) if m.buttons), default=None)
    if last_with_buttons is None:
        body, prompt = body_of(messages), ""
    else:
        lead = list(messages[:last_with_buttons]) + list(messages[last_with_buttons + 1:])
        body, prompt = body_of(lead), body_of([messages[last_with_buttons]])
    if more and body.strip():
        page = paginate(body.strip() + texts.MORE_HINT_WORD, options, max_parts,
                        more_by_digit=last_with_buttons is None, prompt=prompt)
        if not page.rest:  # the short answer and its hint fit: "更多" sends the full text
            return SmsPage(text=page.text, rest=more, options=page.options)
    return paginate(body, options, max_parts, more_by_digit=last_with_buttons is None, prompt=prompt)


def twiml(text: str | None) -> str:
    """A TwiML document replying ``text`` (an empty ``<Response/>`` when None or blank)."""
    from twilio.twiml.messaging_response import MessagingResponse

    response = MessagingResponse()
    if text and text.strip():
        response.message(text)
    return str(response)
