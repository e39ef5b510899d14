"""Telegram glue: python-telegram-bot only moves messages; the Rasa core owns the dialogue.

Handlers (private chats only): ``/start`` (sent to the core as ``/greet``), ``/help``
(channel text), text messages (to the core), button presses (``callback_query``:
always answered, keyboard removed so an option cannot be chosen twice, payload sent to
the core) and anything else (a polite "text only" note). Every update is claimed by
its ``update_id`` in :class:`~channels.state.ChannelState` (dedupe across restarts and
webhook retries). A per-chat limiter keeps floods away from the core; PTB's
``AIORateLimiter`` paces outgoing calls within Telegram's limits; one error handler logs
(hashed chat id, update id) and apologises to the chat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from channels.core import BotMessage, CoreClient, CoreUnavailable, InboundMessage
from channels.state import ChannelState, Claim
from channels.state_redis import make_channel_state
from channels.telegram import texts
from channels.telegram.render import parse_callback, render
from channels.telegram.verify import TelegramSettings
from common.identity import hash_sender

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_TEXT_CHARS = 2000
OPTIONS_TTL_S = 24 * 3600.0
START_PAYLOAD = "/greet"

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def conversation_id(chat_id: int | str) -> str:
    """The core's sender id for a Telegram chat: ``telegram-<hash>``."""
    return f"{CHANNEL}-{hash_sender(str(chat_id))}"


class ChatRateLimiter:
    """At most ``per_minute`` messages per chat in any 60 s window (in memory, per process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._seen: dict[int, deque[float]] = defaultdict(deque)

    def allow(self, chat_id: int) -> bool:
        """Record one message of ``chat_id``; False when it is over the limit."""
        now = self.clock()
        window = self._seen[chat_id]
        while window and now - window[0] >= 60.0:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        return True


class TelegramAdapter:
    """Moves messages between Telegram and the core.

    Args:
        settings: the Telegram settings.
        core: the core client (default: from the environment).
        state: channel state (default: ``CHANNELS_DB_URL``).
    """

    def __init__(self, settings: TelegramSettings, core: CoreClient | None = None, state: ChannelState | None = None):
        self.settings = settings
        self.core = core or CoreClient()
        self.state = state or make_channel_state()
        self.limiter = ChatRateLimiter(settings.rate_per_min)
        self._warned: set[int] = set()
        # One conversation at a time per chat, so replies keep the order of the citizen's messages.
        self._chat_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    # -- building ---------------------------------------------------------------------------
    def build_application(self) -> Application:
        """The PTB application with this adapter's handlers (not started)."""
        base = self.settings.api_base_url
        app = (ApplicationBuilder().token(self.settings.token).base_url(f"{base}/bot")
               .base_file_url(f"{base}/file/bot").rate_limiter(AIORateLimiter(max_retries=2))
               .concurrent_updates(8).build())
        private = filters.ChatType.PRIVATE
        app.add_handler(CommandHandler("start", self._once(self.on_start), filters=private))
        app.add_handler(CommandHandler("help", self._once(self.on_help), filters=private))
        app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, self._once(self.on_text)))
        app.add_handler(CallbackQueryHandler(self._once(self.on_callback)))
        app.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, self._once(self.on_other)))
        app.add_error_handler(self.on_error)
        return app

    def _once(self, handler: Handler) -> Handler:
        """Wrap ``handler`` with the ``update_id`` claim: processed once, released on failure."""

        async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            key = str(update.update_id)
            claim = await asyncio.to_thread(self.state.begin, CHANNEL, key)
            if claim.claim is not Claim.NEW:
                log.info("telegram: duplicate update_id=%s (%s)", key, claim.claim.value)
                return
            try:
                await handler(update, context)
            except BaseException:
                await asyncio.to_thread(self.state.release, CHANNEL, key)
                raise
            await asyncio.to_thread(self.state.finish, CHANNEL, key, None)

        return wrapped

    # -- handlers ---------------------------------------------------------------------------
    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/start``: greet through the core so the wording is the domain's."""
        await self._converse(update, context, START_PAYLOAD)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/help``: how to use the bot on Telegram."""
        if update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, texts.HELP)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A citizen's text message."""
        message = update.effective_message
        if message is None or not message.text:
            return
        await self._converse(update, context, message.text.strip()[:MAX_TEXT_CHARS])

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Photos, stickers, voice notes…: ask for text."""
        if update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, texts.UNSUPPORTED)

    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press: answer the query, retire the keyboard, send the payload to the core."""
        query = update.callback_query
        if query is None:
            return
        chat = update.effective_chat
        parsed = parse_callback(query.data)
        stored = None
        if parsed and chat is not None:
            stored = await asyncio.to_thread(self.state.get_note, CHANNEL, conversation_id(chat.id), f"opt:{parsed[0]}")
        if not parsed or chat is None or not stored or parsed[1] >= len(stored.get("payloads", [])):
            await query.answer(texts.OPTION_EXPIRED)
            return
        title, payload = stored["titles"][parsed[1]], stored["payloads"][parsed[1]]
        await query.answer(texts.OPTION_CHOSEN.format(title=title))
        await asyncio.to_thread(self.state.delete_note, CHANNEL, conversation_id(chat.id), f"opt:{parsed[0]}")
        if query.message is not None:
            try:
                await query.edit_message_reply_markup(reply_markup=None)
            except TelegramError as exc:  # too old to edit: the note is gone anyway
                log.info("telegram: could not retire keyboard (%s)", type(exc).__name__)
        await self._converse(update, context, payload)

    async def _converse(self, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
        chat = update.effective_chat
        if chat is None or not text:
            return
        sender = conversation_id(chat.id)
        if not self.limiter.allow(chat.id):
            if chat.id not in self._warned:
                self._warned.add(chat.id)
                await context.bot.send_message(chat.id, texts.RATE_LIMITED)
            log.info("telegram: rate limited sender=%s update_id=%s", hash_sender(sender), update.update_id)
            return
        self._warned.discard(chat.id)
        async with self._chat_locks[chat.id]:
            await self._ask_and_reply(update, context, chat.id, sender, text)

    async def _ask_and_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE, chat_id: int, sender: str,
                             text: str) -> None:
        inbound = InboundMessage(channel=CHANNEL, sender_id=sender, text=text, message_id=str(update.update_id))
        started = time.monotonic()
        try:
            raw = await asyncio.to_thread(self.core.send_raw, inbound)
        except CoreUnavailable as exc:
            log.warning("telegram: core unavailable (%s) sender=%s update_id=%s",
                        exc, hash_sender(sender), update.update_id)
            await context.bot.send_message(chat_id, texts.UNAVAILABLE)
            return
        messages = [BotMessage.from_rasa(m) for m in raw]
        outgoing = render(messages)
        if not outgoing:
            outgoing = render([BotMessage(text=texts.NO_REPLY)])
        for out in outgoing:
            if out.options is not None:
                await asyncio.to_thread(self.state.put_note, CHANNEL, sender, out.options.note_key,
                                        out.options.to_note(), OPTIONS_TTL_S)
            await context.bot.send_message(chat_id, out.text, reply_markup=out.keyboard)
        log.info("telegram: sender=%s update_id=%s chars=%d replies=%d in %.0f ms", hash_sender(sender),
                 update.update_id, len(text), len(outgoing), (time.monotonic() - started) * 1000)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one error handler: log without content, apologise when there is a chat to tell."""
        chat_id = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("telegram: error handling update_id=%s sender=%s: %s", update_id,
                  hash_sender(conversation_id(chat_id)) if chat_id is not None else "-",
                  type(context.error).__name__, exc_info=context.error)
        if chat_id is not None:
            try:
                await context.bot.send_message(chat_id, texts.UNAVAILABLE)
            except TelegramError:
                log.warning("telegram: could not send the apology for update_id=%s", update_id)


async def serve_polling(app: Application, stop: asyncio.Event, poll_timeout: int = 10) -> None:
    """Run ``app`` with long polling until ``stop`` is set (usable off the main thread, unlike ``run_polling``)."""
    await app.initialize()
    try:
        assert app.updater is not None
        await app.updater.start_polling(timeout=poll_timeout, allowed_updates=["message", "callback_query"],
                                        drop_pending_updates=False)
        await app.start()
        await stop.wait()
        await app.updater.stop()
        await app.stop()
    finally:
        await app.shutdown()

