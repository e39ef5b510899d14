"""A citizen's mail → text the core can answer: decoding, HTML to text, quotes and signatures off, questions split.

Chinese mail arrives in every legacy charset (GB2312 that is really GBK, GB18030, Big5,
UTF-8) with quoted-printable or base64 transfer encodings, often with mislabelled or
missing charsets; decoding never raises and falls back to GB18030 and replacement
characters. Traditional script is left alone: the core's normaliser folds it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import Header, decode_header
from email.message import Message
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import ClassVar

# Legacy labels → the superset codec that actually decodes what mail clients send.
CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "gb_2312-80": "gb18030",
    "euc-cn": "gb18030", "hz-gb-2312": "hz", "big5": "big5hkscs", "x-big5": "big5hkscs", "cn-big5": "big5hkscs",
    "big5-hkscs": "big5hkscs", "cp950": "big5hkscs", "unicode-1-1-utf-7": "utf-7", "utf8": "utf-8",
    "us-ascii": "utf-8", "ascii": "utf-8", "iso-8859-1": "cp1252", "latin1": "cp1252",
}
MAX_QUESTION_CHARS = 500
MAX_COMPLAINT_CHARS = 2000
COMPLAINT_CUES = ("投诉", "投訴", "举报", "舉報", "市长信箱", "市長信箱", "反映问题", "反映問題")

# A line that starts quoted history: everything from it on is dropped.
QUOTE_HEADERS = [
    re.compile(r"^\s*-{2,}\s*(原始邮件|原始郵件|Original Message|Forwarded message|转发邮件|轉寄郵件)\s*-{2,}\s*$",
               re.I),
    re.compile(r"^\s*-{5,}\s*$"),
    re.compile(r"^\s*(在|于|於).{2,120}(写道|寫道)\s*[:：]\s*$"),
    re.compile(r"^\s*On\s.{2,200}\swrote:\s*$", re.I),
    re.compile(r"^\s*(发件人|寄件者|From)\s*[:：].+$", re.I),
    re.compile(r"^_{10,}\s*$"),
]
# Sign-offs that clients append.
TRAILERS = re.compile(r"^\s*(发自我的|發自我的|Sent from my|来自.{0,20}(邮箱|客户端)|Get Outlook for)", re.I)
QUESTION_END = re.compile(r"[?？]")
NUMBERED = re.compile(r"^\s*(?:[(（]?\s*(?:\d{1,2}|[一二三四五六七八九十]{1,2})\s*[)）.、．:：]"
                      r"|[①②③④⑤⑥⑦⑧⑨⑩]|第[一二三四五六七八九十\d]{1,2}[，,、:：])\s*")
SENTENCE = re.compile(r"[^。！!？?；;\n]+[。！!？?；;]*")
COURTESY = re.compile(r"^(您好|你好|尊敬的.{0,20}|各位.{0,10}|领导.{0,6}|谢谢.{0,10}|感谢.{0,20}|此致|敬礼|顺祝.{0,10}|"
                      r"麻烦了|辛苦了|盼复|望回复|请回复|期待.{0,10}回复)[，,。！!：:\s]*$")
WS = re.compile(r"[ \t\u3000\xa0]+")


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    return CHARSET_ALIASES.get(name, name)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` labelled ``charset``; tries UTF-8 then GB18030 when the label is missing or wrong."""
    codec = _codec(charset)
    for candidate in ([codec] if codec else []) + ["utf-8", "gb18030"]:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode(codec or "gb18030", errors="replace") if codec and _known(codec) else \
        data.decode("gb18030", errors="replace")


def _known(codec: str) -> bool:
    try:
        b"".decode(codec)
    except LookupError:
        return False
    return True


def decode_header_value(value: object) -> str:
    """An RFC 2047 header (``=?gb2312?B?...?=``) as text, whatever its charsets."""
    if value is None:
        return ""
    if isinstance(value, Header):  # compat32 wraps raw 8-bit headers; their chunks are "unknown-8bit"
        try:
            return re.sub(r"\s+", " ", "".join(decode_bytes(c, cs) if isinstance(c, bytes) else c
                                               for c, cs in decode_header(value))).strip()
        except Exception:  # malformed: fall through to the text form
            pass
    raw = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in raw):  # raw 8-bit header (RFC 6532 or a legacy client)
        raw = decode_bytes(raw.encode("ascii", "surrogateescape"), None)
    try:
        parts = decode_header(raw)
    except Exception:  # malformed encoded words: keep the raw text
        return raw
    out = []
    for chunk, charset in parts:
        out.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    text = "".join(out)
    return re.sub(r"\s+", " ", text).strip()


class _HTMLToText(HTMLParser):
    """HTML → plain text: blocks become lines, quoted history (blockquote, gmail/QQ quote blocks) is dropped."""

    BLOCK: ClassVar[frozenset[str]] = frozenset({
        "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "section",
             "article", "header", "footer", "pre", "hr"})
    SKIP: ClassVar[frozenset[str]] = frozenset({"script", "style", "head", "title", "blockquote", "template"})
    QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix", "qmquote", "divRplyFwdMsg",
                     "ntes-mailmaster-quote")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        marker = attr.get("class", "") + " " + attr.get("id", "")
        if self.skip_stack:
            if tag not in ("br", "hr", "img", "meta", "link", "input"):
                self.skip_stack.append(tag)
            return
        if tag in self.SKIP or any(q in marker for q in self.QUOTE_CLASSES):
            self.skip_stack.append(tag)
            return
        if tag in self.BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if self.skip_stack:
            self.skip_stack.pop()
            return
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_stack:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML mail body, one line per block, quoted history removed."""
    parser = _HTMLToText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; keep whatever was collected
        pass
    lines = [WS.sub(" ", line).strip() for line in "".join(parser.parts).splitlines()]
    return "\n".join(lines)


def strip_quotes(text: str) -> str:
    """Drop quoted history (``>`` lines, "在…写道：", "-----原始邮件-----", "On … wrote:") and signatures (``-- ``)."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.rstrip() in ("--", "-- ") or line == "-- ":
            break
        if any(p.match(line) for p in QUOTE_HEADERS):
            break
        if line.lstrip().startswith(">") or line.lstrip().startswith("＞"):
            continue
        if TRAILERS.match(line):
            continue
        kept.append(WS.sub(" ", line).strip())
    out = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def is_complaint(subject: str, body: str) -> bool:
    """Letters to the mayor's mailbox: a complaint or report cue in the subject or the opening."""
    head = subject + "\n" + body[:200]
    return any(cue in head for cue in COMPLAINT_CUES)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def split_questions(text: str, limit: int = 5) -> tuple[list[str], int]:
    """Split a mail body into the questions it asks.

    Numbered items (``1.``, ``（2）``, ``③``, ``第一、``) are one question each; otherwise each
    question ends at a question mark and carries the statements before it (its context).
    A body without question marks is one question. Greetings and sign-offs are dropped.

    Args:
        text: the cleaned body.
        limit: the most questions returned.

    Returns:
        (the first ``limit`` questions, how many there were in all).
    """
    lines = [line.strip() for line in text.split("\n") if line.strip() and not COURTESY.match(line.strip())]
    if not lines:
        return [], 0
    numbered = [i for i, line in enumerate(lines) if NUMBERED.match(line)]
    items: list[str] = []
    if len(numbered) >= 2:
        preamble = " ".join(lines[:numbered[0]])
        for j, start in enumerate(numbered):
            end = numbered[j + 1] if j + 1 < len(numbered) else len(lines)
            body = NUMBERED.sub("", lines[start], count=1) + "".join(lines[start + 1:end])
            if body.strip():
                items.append(body.strip())
        # A short lead-in ("关于护照：") gives every item its subject.
        if preamble and len(preamble) <= 30 and not QUESTION_END.search(preamble):
            items = [preamble.rstrip("：:，,") + "，" + item for item in items]
    else:
        sentences = [s.strip() for s in SENTENCE.findall("\n".join(lines)) if s.strip()]
        sentences = [s for s in sentences if not COURTESY.match(s)]
        pending: list[str] = []
        for sentence in sentences:
            pending.append(sentence)
            if QUESTION_END.search(sentence):
                items.append("".join(pending))
                pending = []
        if pending:
            rest = "".join(pending)
            # A real statement after the last question is its own topic.
            if not items or len(rest) > 12:
                items.append(rest)
    items = [_clip(i, MAX_QUESTION_CHARS) for i in items if i.strip(" 。，,.!！")]
    return items[:limit], len(items)


@dataclass(frozen=True)
class ParsedMail:
    """What the mailbox worker needs from one mail.

    Attributes:
        message_id: the ``Message-ID`` (angle brackets kept) or a stable digest of the mail.
        from_address: the sender's address, lower case ("" when unusable).
        from_name: the display name (may be empty).
        subject: the decoded subject.
        body: the cleaned text (quotes and signatures removed).
        attachments: file names of attachments (not processed).
        references: the ``References`` chain for threading a reply.
        complaint: True when it reads as a complaint letter (sent to the core whole).
        defects: parser defects found (a malformed mail).
    """

    message_id: str
    from_address: str
    from_name: str
    subject: str
    body: str
    attachments: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    complaint: bool = False
    defects: tuple[str, ...] = field(default_factory=tuple)

    def questions(self, limit: int) -> tuple[list[str], int]:
        """What to ask the core, in order, and how many questions the mail held in all."""
        if self.complaint:
            # A new letter whose cue is only in the subject carries it; a reply in the dialogue
            # ("Re: 投诉…" answering where it happened) is the answer alone.
            is_reply = bool(self.references) or strip_reply_prefixes(self.subject) != self.subject
            cue_in_body = any(c in self.body for c in COMPLAINT_CUES)
            text = self.body if cue_in_body or is_reply or not self.subject else f"{self.subject}：{self.body}"
            return ([_clip(text, MAX_COMPLAINT_CHARS)], 1) if text.strip("：") else ([], 0)
        body = self.body or self.subject
        return split_questions(body, limit)


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    return decode_bytes(payload, part.get_content_charset())


def _attachment_name(part: Message) -> str | None:
    disposition = str(part.get("Content-Disposition", "")).lower()
    filename = part.get_filename()
    if filename:
        return decode_header_value(filename)
    if disposition.startswith("attachment"):
        return part.get_content_type()
    return None


def message_digest(raw: bytes) -> str:
    """A stable id for a mail without Message-ID."""
    return "<sha256-" + hashlib.sha256(raw).hexdigest()[:32] + "@citizen-bot.invalid>"


def read_message(raw: bytes) -> Message:
    """Parse raw RFC 5322 bytes leniently (never raises on bad structure)."""
    return message_from_bytes(raw)


def parse_mail(raw: bytes, msg: Message | None = None) -> ParsedMail:
    """Turn one mail into a :class:`ParsedMail`: prefers ``text/plain``, converts HTML, lists attachments.

    Args:
        raw: the mail as fetched.
        msg: the already parsed message, if the caller has it.
    """
    msg = msg if msg is not None else read_message(raw)
    plain: list[str] = []
    html: list[str] = []
    attachments: list[str] = []
    parts = list(msg.walk()) if msg.is_multipart() else [msg]
    for part in parts:
        if part.is_multipart():
            continue
        name = _attachment_name(part)
        ctype = part.get_content_type()
        if name is not None and not (ctype in ("text/plain", "text/html") and
                                     str(part.get("Content-Disposition", "")).lower().startswith("inline")):
            attachments.append(name)
            continue
        if ctype == "text/plain":
            plain.append(_part_text(part))
        elif ctype == "text/html":
            html.append(_part_text(part))
        elif ctype.startswith(("message/", "text/rfc822")):
            continue
        elif not ctype.startswith("text/"):
            attachments.append(name or ctype)
    text = "\n".join(plain) if any(p.strip() for p in plain) else "\n".join(html_to_text(h) for h in html)
    body = strip_quotes(text)
    name, address = parseaddr(decode_header_value(msg.get("From", "")))
    message_id = str(msg.get("Message-ID", "") or "").strip()
    if not re.fullmatch(r"<[^<>\s]{1,250}>", message_id):
        message_id = message_digest(raw)
    references = tuple(m for m in re.findall(r"<[^<>\s]+>", str(msg.get("References", "") or ""))[-20:])
    in_reply_to = re.findall(r"<[^<>\s]+>", str(msg.get("In-Reply-To", "") or ""))
    if in_reply_to and in_reply_to[0] not in references:
        references += (in_reply_to[0],)
    subject = decode_header_value(msg.get("Subject", ""))
    return ParsedMail(
        message_id=message_id, from_address=address.strip().lower() if "@" in address else "",
        from_name=name.strip(), subject=subject, body=body, attachments=tuple(attachments),
        references=references, complaint=is_complaint(subject, body),
        defects=tuple(type(d).__name__ for p in parts for d in getattr(p, "defects", [])),
    )


def strip_reply_prefixes(subject: str) -> str:
    """``Re: 回复: Fwd: 主题`` → ``主题``."""
    return re.sub(r"^(\s*(re|fw|fwd|回复|答复|转发|回覆|轉寄)\s*[:：]\s*)+", "", subject, flags=re.I).strip()

