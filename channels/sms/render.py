"""Bot messages → SMS text within a part budget, and TwiML through twilio's ``MessagingResponse``.

Rules (from :data:`CAPABILITIES`): no native buttons, so options become numbered lines under
the text, numbered by the keys of the answer's closed-question hint (a rating's 5 is 非常满意)
or 1..n; links are kept, so images become their link; a reply longer than the budget is cut
at a sentence boundary, ends with a continuation hint and the remainder is returned for later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from channels.core import BotMessage, Button, Capabilities
from channels.options import MAX_OPTIONS, options_of
from channels.options import options_block as _options_block
from channels.sms import segments, texts

CAPABILITIES = Capabilities(max_chars=None, buttons=False, links=True, speech=False, rich_text=False)
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
        options: the options offered, in order, each with the key that picks it.
    """

    text: str
    rest: str = ""
    options: tuple[Button, ...] = ()


def body_of(messages: Sequence[BotMessage]) -> str:
    """The texts of ``messages`` joined by new lines.

    Image links are kept where links are useful; custom payloads (hints) are not shown.
    """
    lines: list[str] = []
    for m in messages:
        if m.text.strip():
            lines.append(m.text.strip())
        if m.image and CAPABILITIES.links:
            lines.append(m.image)
    return "\n".join(lines)


__all__ = ["MAX_OPTIONS", "SmsPage", "body_of", "compose", "options_block", "options_of", "paginate", "twiml"]


def options_block(options: Sequence[Button]) -> str:
    """The numbered options with the SMS footer; unnumbered ones as words (:func:`channels.options.options_block`)."""
    return _options_block(options, texts.OPTIONS_FOOTER, texts.OPTION_WORD)


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
             prompt: str = "", after: str = "") -> SmsPage:
    """Fit ``body``, then ``prompt`` and the numbered ``options``, into ``max_parts`` SMS parts.

    Args:
        body: the reply text; cut at a sentence boundary when it does not fit.
        options: numbered options shown at the end (kept on the first page).
        max_parts: the budget of SMS parts.
        more_by_digit: the continuation hint says "回复 1" (only when no options are pending).
        prompt: the question the options answer ("请确认预约信息…"); kept whole with them, so a
            cut never separates the options from their question.
        after: text the bot sent after the options (the question they answer, "也可以直接回复其他时间");
            it follows the options, as on every other channel.
    """
    block = (("\n" + prompt.strip()) if prompt.strip() else "") + options_block(options)
    block += ("\n" + after.strip()) if after.strip() and options else ""
    full = (body.strip() + block).strip()
    if segments.fits(full, max_parts):
        return SmsPage(text=full, options=tuple(options))
    hint = texts.MORE_HINT_DIGIT if more_by_digit and not options else texts.MORE_HINT_WORD
    suffix = hint + block
    limit = _longest_fitting_prefix(body, suffix, max_parts) if body.strip() else 0
    if limit == 0 and prompt.strip():  # the question itself is long: cut it like any text, options kept
        return paginate((body.strip() + "\n" + prompt.strip()).strip(), options, max_parts, more_by_digit,
                        after=after)
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
    after = ""
    if last_with_buttons is None:
        body, prompt = body_of(messages), ""
    else:
        body, prompt = body_of(messages[:last_with_buttons]), body_of([messages[last_with_buttons]])
        after = body_of(messages[last_with_buttons + 1:])
        if not options:  # nothing to number: the later text simply follows
            body, prompt, after = body_of(messages), "", ""
    if more and body.strip():
        page = paginate(body.strip() + texts.MORE_HINT_WORD, options, max_parts,
                        more_by_digit=last_with_buttons is None, prompt=prompt, after=after)
        if not page.rest:  # the short answer and its hint fit: "更多" sends the full text
            return SmsPage(text=page.text, rest=more, options=page.options)
    return paginate(body, options, max_parts, more_by_digit=last_with_buttons is None, prompt=prompt, after=after)


def twiml(text: str | None) -> str:
    """A TwiML document replying ``text`` (an empty ``<Response/>`` when None or blank)."""
    from twilio.twiml.messaging_response import MessagingResponse

    response = MessagingResponse()
    if text and text.strip():
        response.message(text)
    return str(response)
