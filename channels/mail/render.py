"""The bot's answers → one reply mail (text/plain + HTML), threaded, marked as an automatic reply.

Mail has no buttons (:data:`CAPABILITIES`): options become numbered lists — a single closed
question keeps the keys of its hint (a rating's 5 is 非常满意), several answers' options are
numbered across the reply — and the payloads are returned (in number order) so the worker
can map a reply consisting of just a number back to its option. An HTML part is added
because the channel declares rich text.
The HTML part is built as an element tree (never by string concatenation), so citizen
and bot text is always escaped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr

from channels.core import NO_KEY, BotMessage, Capabilities, keyed_options
from channels.mail import texts
from channels.mail.parse import ParsedMail, strip_reply_prefixes

CAPABILITIES = Capabilities(max_chars=None, buttons=False, links=True, speech=False, rich_text=True)
QUESTION_ECHO_CHARS = 80
MAX_OPTIONS = 9


@dataclass(frozen=True)
class Answer:
    """The core's answer to one question of the mail."""

    question: str
    messages: tuple[BotMessage, ...]


@dataclass(frozen=True)
class Section:
    """One rendered block of the reply: an optional heading, paragraphs, numbered options."""

    heading: str | None
    paragraphs: tuple[str, ...]
    options: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class RenderedReply:
    """The reply mail and the option payloads in the order of their numbers (1-based)."""

    message: EmailMessage
    options: tuple[str, ...]
    text: str


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def build_sections(answers: Sequence[Answer], *, total_questions: int, limit: int,
                   attachments: Sequence[str] = ()) -> tuple[list[Section], list[str]]:
    """Lay out the reply: one section per question, options numbered across the reply.

    Returns:
        (sections, option payloads in number order).
    """
    sections: list[Section] = []
    payloads: list[str] = []
    many = len(answers) > 1
    offered = [keyed_options(a.messages, MAX_OPTIONS) if not CAPABILITIES.buttons else () for a in answers]
    # One closed question in the reply keeps its own keys (a rating's 5 is 非常满意); several
    # answers with options are numbered across the reply.
    by_key = sum(1 for o in offered if o) == 1
    for index, answer in enumerate(answers, start=1):
        paragraphs = [m.text.strip() for m in answer.messages if m.text.strip()]
        options: list[tuple[int, str]] = []
        for button in offered[index - 1]:
            if button.key == NO_KEY:
                paragraphs.append(texts.OPTION_WORD.format(title=button.title))
            elif by_key and button.key.isdigit() and int(button.key) >= 1:
                number = int(button.key)
                payloads.extend([""] * (number - len(payloads)))
                payloads[number - 1] = button.payload
                options.append((number, button.title))
            else:
                payloads.append(button.payload)
                options.append((len(payloads), button.title))
        if not paragraphs and not options:
            paragraphs = [texts.NO_ANSWER]
        heading = texts.QUESTION_HEADING.format(index=index, question=_clip(answer.question, QUESTION_ECHO_CHARS)) \
            if many else None
        sections.append(Section(heading=heading, paragraphs=tuple(paragraphs), options=tuple(options)))
    notes: list[str] = []
    if total_questions > limit:
        notes.append(texts.TOO_MANY_QUESTIONS.format(limit=limit))
    if attachments:
        notes.append(texts.ATTACHMENTS_ACK.format(count=len(attachments), names="、".join(
            _clip(a, 40) for a in attachments[:5]) + ("等" if len(attachments) > 5 else "")))
    if notes:
        sections.append(Section(heading=None, paragraphs=tuple(notes)))
    return sections, payloads


def _intro(count: int) -> str:
    return texts.INTRO_MANY.format(count=count) if count > 1 else texts.INTRO_ONE


def render_text(sections: Sequence[Section], question_count: int) -> str:
    """The text/plain part."""
    lines = [texts.GREETING, "", _intro(question_count), ""]
    for section in sections:
        if section.heading:
            lines.append(section.heading)
        lines.extend(section.paragraphs)
        if section.options:
            lines.append(texts.OPTIONS_HEADING)
            lines.extend(f"{n}. {title}" for n, title in section.options)
        lines.append("")
    lines.append(texts.FOOTER)
    return "\n".join(lines) + "\n"


def _paragraph(parent: ET.Element, text: str, style: str = "margin:0 0 8px 0") -> None:
    p = ET.SubElement(parent, "p", style=style)
    chunks = text.split("\n")
    p.text = chunks[0]
    for chunk in chunks[1:]:
        br = ET.SubElement(p, "br")
        br.tail = chunk


def render_html(sections: Sequence[Section], question_count: int) -> str:
    """The text/html part (escaped by construction)."""
    html = ET.Element("html", lang="zh-CN")
    head = ET.SubElement(html, "head")
    ET.SubElement(head, "meta", charset="utf-8")
    body = ET.SubElement(html, "body", style="font-family:sans-serif;font-size:15px;line-height:1.6;color:#1f2933")
    _paragraph(body, texts.GREETING)
    _paragraph(body, _intro(question_count))
    for section in sections:
        block = ET.SubElement(body, "div", style="margin:12px 0;padding:8px 12px;border-left:3px solid #b91c1c")
        if section.heading:
            _paragraph(block, section.heading, "margin:0 0 6px 0;font-weight:bold")
        for text in section.paragraphs:
            _paragraph(block, text)
        if section.options:
            _paragraph(block, texts.OPTIONS_HEADING)
            ol = ET.SubElement(block, "ol")
            for n, title in section.options:
                ET.SubElement(ol, "li", value=str(n)).text = title
    _paragraph(body, texts.FOOTER, "margin:16px 0 0 0;color:#6b7280;font-size:13px")
    return "<!doctype html>\n" + ET.tostring(html, encoding="unicode", method="html")


def reply_headers(original: ParsedMail, subject: str | None = None) -> dict[str, str]:
    """Threading and RFC 3834 headers of a reply to ``original``."""
    base = strip_reply_prefixes(subject if subject is not None else original.subject) or texts.SUBJECT_DEFAULT
    references = list(original.references)
    if original.message_id not in references:
        references.append(original.message_id)
    return {
        "Subject": texts.REPLY_PREFIX + base,
        "In-Reply-To": original.message_id,
        "References": " ".join(references[-20:]),
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
        "Precedence": "auto_reply",
    }


def build_message(original: ParsedMail, from_address: str, text: str, html: str | None) -> EmailMessage:
    """Assemble the reply mail to ``original.from_address``."""
    msg = EmailMessage()
    name, addr = parseaddr(from_address)
    msg["From"] = formataddr((name, addr)) if name else addr
    msg["To"] = Address(display_name="", addr_spec=original.from_address)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=addr.split("@", 1)[1] if "@" in addr else None)
    for key, value in reply_headers(original).items():
        msg[key] = value
    msg.set_content(text, charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


def render_reply(original: ParsedMail, answers: Sequence[Answer], from_address: str, *, total_questions: int,
                 limit: int) -> RenderedReply:
    """Render the answers to ``original`` into one reply mail.

    Args:
        original: the citizen's mail.
        answers: the core's answer per question, in order.
        from_address: our mailbox address (``MAIL_SMTP_FROM``).
        total_questions: how many questions the mail held (more than ``limit`` adds a note).
        limit: how many were answered at most.
    """
    sections, payloads = build_sections(answers, total_questions=total_questions, limit=limit,
                                        attachments=original.attachments)
    text = render_text(sections, len(answers))
    html = render_html(sections, len(answers)) if CAPABILITIES.rich_text else None
    return RenderedReply(message=build_message(original, from_address, text, html), options=tuple(payloads),
                         text=text)


def render_notice(original: ParsedMail, from_address: str, notice: str) -> RenderedReply:
    """A reply carrying only a channel notice (empty or oversized mail)."""
    section = Section(heading=None, paragraphs=(notice,))
    text = render_text([section], 1)
    html = render_html([section], 1) if CAPABILITIES.rich_text else None
    return RenderedReply(message=build_message(original, from_address, text, html),
                         options=(), text=text)
