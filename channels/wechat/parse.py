"""WeChat message XML → :class:`WeChatInbound` (wechatpy's ``parse_message`` does the XML).

What the adapter does with each kind is in :mod:`channels.wechat.adapter`; here only the
facts are taken out: the sender's OpenID, the kind, the text (a voice message's
``Recognition`` counts as text), a menu click's key and the dedupe key. WeChat retries a
message with the same ``MsgId``; events have none, so their key is OpenID (hashed) +
``CreateTime`` + event, as WeChat's documentation recommends.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

from channels.core import InboundMessage
from common.identity import hash_sender

CHANNEL = "wechat"
SENDER_PREFIX = "wechat-"
MAX_TEXT_CHARS = 2000


class Kind(enum.Enum):
    """What arrived."""

    TEXT = "text"
    VOICE = "voice"          # text holds WeChat's recognition result, "" when there is none
    IMAGE = "image"
    LOCATION = "location"
    LINK = "link"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    CLICK = "click"          # a menu button: event_key holds its key
    OTHER = "other"          # video, files (acknowledged) or other events (silent)


@dataclass(frozen=True)
class WeChatInbound:
    """One message or event from a citizen, vendor details removed.

    Attributes:
        openid: the sender's OpenID for this account (raw; never logged).
        account: the account's original id (``ToUserName``), the source of passive replies.
        kind: what arrived.
        dedupe_key: ``MsgId``, or ``ev:<hashed OpenID>:<CreateTime>:<event>`` for events.
        text: the text (stripped, at most :data:`MAX_TEXT_CHARS`), or the recognised speech.
        event_key: a menu click's ``EventKey``.
        silent: an event that needs no answer.
    """

    openid: str
    account: str
    kind: Kind
    dedupe_key: str
    text: str = ""
    event_key: str = ""
    silent: bool = False

    @property
    def sender_hash(self) -> str:
        """Pseudonym of the OpenID (logs, opt-outs)."""
        return hash_sender(self.openid)

    @property
    def sender_id(self) -> str:
        """The conversation id the core sees: ``wechat-`` + hash of the OpenID."""
        return SENDER_PREFIX + self.sender_hash

    def to_core(self, text: str) -> InboundMessage:
        """The message for the core (no metadata: the OpenID never leaves the channel)."""
        return InboundMessage(channel=CHANNEL, sender_id=self.sender_id, text=text, message_id=self.dedupe_key)


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_xml(xml: str) -> WeChatInbound | None:
    """Parse a (decrypted) callback body; None when it is not a usable message (no sender, bad XML)."""
    from wechatpy import parse_message

    try:
        msg = parse_message(xml)
    except (ExpatError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if msg is None:
        return None
    openid, account = _str(getattr(msg, "source", None)), _str(getattr(msg, "target", None))
    if not openid or not account:
        return None
    msg_type = _str(getattr(msg, "type", "")).lower()
    msg_id = getattr(msg, "id", 0) or 0
    if msg_type == "event":
        event = _str(getattr(msg, "event", "")).lower()
        key = f"ev:{hash_sender(openid)}:{getattr(msg, 'time', 0)}:{event}"
        if event in ("subscribe", "subscribe_scan", "subscribe_scan_product"):
            return WeChatInbound(openid, account, Kind.SUBSCRIBE, key)
        if event == "unsubscribe":
            return WeChatInbound(openid, account, Kind.UNSUBSCRIBE, key)
        if event == "click":
            return WeChatInbound(openid, account, Kind.CLICK, key, event_key=_str(getattr(msg, "key", "")))
        # other events (menu link opened, location reports, delivery receipts…) need no answer
        return WeChatInbound(openid, account, Kind.OTHER, key, silent=True)
    key = str(msg_id) if msg_id else f"msg:{hash_sender(openid)}:{getattr(msg, 'time', 0)}:{msg_type}"
    kinds = {"text": Kind.TEXT, "voice": Kind.VOICE, "image": Kind.IMAGE, "location": Kind.LOCATION,
             "link": Kind.LINK}
    kind = kinds.get(msg_type, Kind.OTHER)
    text = ""
    if kind is Kind.TEXT:
        text = _str(getattr(msg, "content", ""))
    elif kind is Kind.VOICE:
        text = _str(getattr(msg, "recognition", ""))
    return WeChatInbound(openid, account, kind, key, text=text[:MAX_TEXT_CHARS])
