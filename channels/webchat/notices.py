"""Web chat notices: stored for the chat session, shown when the citizen next opens the chat.

The outbox worker "sends" a notice by storing it in the channel state under the chat session
(:class:`WebchatNoticeBox`); the chat page asks for the session's new notices when it loads
(``POST /chat/api/notices`` with the signed session cookie the relay issues) and
shows them as bot messages. Storing is idempotent per notice and a notice is marked shown, not
deleted, so a retried send never shows it twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, current_app, jsonify

from channels.outbound import Notice, NoticeRefused, notice_digest
from channels.registry import channel_state
from channels.state import ChannelState
from channels.webchat.relay import CHANNEL, SENDER_PREFIX, SESSION_RE, cookie_session
from common.identity import hash_sender

log = logging.getLogger(__name__)

bp = Blueprint("webchat_notices", __name__, url_prefix="/chat")

NOTICE_TTL_S = 90 * 24 * 3600.0
MAX_SHOWN = 20


def _session(address: str) -> str:
    session = address.removeprefix(SENDER_PREFIX)
    if not SESSION_RE.fullmatch(session):
        raise NoticeRefused("not a web chat session id")
    return session


def _conversation(session: str) -> str:
    return "notices-" + hash_sender(SENDER_PREFIX + session)


class WebchatNoticeBox:
    """Notices waiting for web chat sessions (a :class:`~channels.outbound.NoticeSender`).

    Args:
        state: the shared channel state.
    """

    def __init__(self, state: ChannelState):
        self.state = state

    def send_notice(self, notice: Notice) -> str:
        """Store the notice for its session (once); return its record id."""
        session = _session(notice.to)
        conversation, key = _conversation(session), notice_digest(notice.key)
        if self.state.get_note(CHANNEL, conversation, key) is None:
            self.state.put_note(CHANNEL, conversation, key, {
                "text": notice.text, "at": dt.datetime.now(dt.timezone.utc).isoformat(), "shown": False,
            }, ttl_s=NOTICE_TTL_S)
            log.info("webchat-notice: stored for sender=%s", hash_sender(SENDER_PREFIX + session))
        return f"webchat:{key}"

    def find_notice(self, notice: Notice, since: dt.datetime) -> str | None:
        """The record id when the notice is already stored, else None."""
        try:
            session = _session(notice.to)
        except NoticeRefused:
            return None
        key = notice_digest(notice.key)
        return f"webchat:{key}" if self.state.get_note(CHANNEL, _conversation(session), key) is not None else None

    def take_new(self, session: str) -> list[dict[str, str]]:
        """The session's notices not shown yet (oldest first), now marked shown."""
        conversation = _conversation(session)
        notes = self.state.list_notes(CHANNEL, conversation)
        new = sorted(((k, v) for k, v in notes.items() if isinstance(v, dict) and not v.get("shown")),
                     key=lambda kv: str(kv[1].get("at", "")))[:MAX_SHOWN]
        for key, value in new:
            self.state.put_note(CHANNEL, conversation, key, {**value, "shown": True}, ttl_s=NOTICE_TTL_S)
        return [{"text": str(v.get("text", "")), "at": str(v.get("at", ""))} for _, v in new]


def _box() -> WebchatNoticeBox:
    return WebchatNoticeBox(channel_state(current_app))


@bp.post("/api/notices")
def notices() -> Any:
    """The new notices of the signed cookie's session: → ``{"notices": [{"text", "at"}]}`` (none without one)."""
    sid = cookie_session()
    return jsonify({"notices": _box().take_new(sid) if sid else []})
