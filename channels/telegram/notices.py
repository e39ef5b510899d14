"""Telegram notices from the outbox: ``sendMessage`` to the citizen's chat.

The Bot API cannot list the messages a bot sent, so this sender keeps its own attempt record:
the message id is written to the channel state (keyed by the notice) as soon as Telegram
answers, and :meth:`TelegramNoticeSender.find_notice` reads it back. A worker killed between
Telegram's answer and that write (milliseconds) sends the notice again — at least once in that
window, exactly once everywhere else. A chat that blocked the bot, or does not exist, is
refused; so is a chat whose citizen opted out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy.exc import SQLAlchemyError

from channels.outbound import Notice, NoticeRefused, notice_digest
from channels.state import ChannelState
from channels.telegram.verify import TelegramSettings
from common.identity import hash_sender

log = logging.getLogger(__name__)

CHANNEL = "telegram"
RECORDS = "outbox-sent"  # channel-state conversation holding the attempt records
RECORD_TTL_S = 180 * 24 * 3600.0
MAX_TEXT = 4096
TIMEOUT_S = 10.0


class TelegramNoticeSender:
    """A notice sender over the Bot API (python-telegram-bot's ``Bot``).

    Args:
        settings: the Telegram settings (token and Bot API server).
        state: opt-outs and the attempt records.
    """

    def __init__(self, settings: TelegramSettings, state: ChannelState):
        self.settings = settings
        self.state = state

    async def _send(self, chat_id: int, text: str) -> int:
        from telegram import Bot

        base = self.settings.api_base_url
        async with Bot(self.settings.token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot") as bot:
            message = await bot.send_message(chat_id=chat_id, text=text, read_timeout=TIMEOUT_S,
                                             write_timeout=TIMEOUT_S, connect_timeout=TIMEOUT_S)
            return int(message.message_id)

    def send_notice(self, notice: Notice) -> str:
        """Send the notice; record and return Telegram's message id.

        Raises:
            NoticeRefused: not a chat id, opted out, the bot is blocked or the chat does not exist.
        """
        from telegram.error import BadRequest, Forbidden

        try:
            chat_id = int(notice.to)
        except ValueError as exc:
            raise NoticeRefused("not a Telegram chat id") from exc
        who = hash_sender(str(chat_id))
        if self.state.is_opted_out(CHANNEL, who):
            raise NoticeRefused("opted out")
        try:
            message_id = asyncio.run(self._send(chat_id, notice.text.strip()[:MAX_TEXT]))
        except Forbidden as exc:
            raise NoticeRefused("the bot is blocked by the user") from exc
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                raise NoticeRefused("chat not found") from exc
            raise
        ref = f"{chat_id}:{message_id}"
        try:  # Telegram has it: it is sent; this record is what a restarted worker reads
            self.state.put_note(CHANNEL, RECORDS, notice_digest(notice.key), {"ref": ref}, ttl_s=RECORD_TTL_S)
        except SQLAlchemyError as exc:
            log.warning("telegram-notice: sent but the attempt record failed (%s)", type(exc).__name__)
        log.info("telegram-notice: sent message_id=%s sender=%s", message_id, who)
        return ref

    def find_notice(self, notice: Notice, since: dt.datetime) -> str | None:
        """The recorded ``chat:message`` id when an earlier attempt delivered the notice, else None."""
        record = self.state.get_note(CHANNEL, RECORDS, notice_digest(notice.key))
        return str(record["ref"]) if isinstance(record, dict) and record.get("ref") else None
