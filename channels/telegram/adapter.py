"""Telegram glue: python-telegram-bot only moves messages; the Rasa core owns the dialogue.

Handlers (private chats only): ``/start`` (sent to the core as ``/greet``), ``/help``
(channel text), text messages (to the core), button presses (``callback_query``:
always answered, keyboard removed so an option cannot be chosen twice, payload sent to
the core) and anything else (a polite "text only" note). Every update is claimed by
its ``update_id`` in :class:`~channels.state.ChannelState` (dedupe across restarts and
webhook retries). A per-chat limiter keeps floods away from the core; PTB's
``AIORateLimiter`` paces outgoing calls within Telegram's limits; one error handler logs
(hashed chat id, update id) and apologises to the chat.

Long polling (:func:`serve_polling`) is a pull channel (``channels/pull.py``): it calls
``getUpdates`` only while the core is ready and pauses with one log line while it is
not. Every update fetched is written to a durable inbox (a ChannelState note) before the
next ``getUpdates`` acknowledges it to Telegram, and leaves the inbox once answered, so a
restart finishes what a previous run took. A message whose core call fails is retried
with backoff until ``retry_deadline_s`` after it was taken; only then is the apology sent.
In webhook mode the apology comes at once (Telegram's request window is short).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import Conflict, TelegramError
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

from channels.core import LIVE_AGENT_HINT, BotMessage, CoreClient, CoreUnavailable, InboundMessage
from channels.pull import Backoff, CoreGate, PullSettings
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
ALLOWED_UPDATES = ["message", "callback_query"]
INBOX = "inbox"                 # ChannelState notes: updates taken from Telegram, not yet answered
INBOX_TTL_S = 24 * 3600.0       # Telegram itself keeps unconfirmed updates for 24 h
MAX_CONCURRENT_UPDATES = 8
SWEEP_S = 15.0                  # re-offer inbox updates another worker's claim held back
MAX_FETCH_BACKOFF_S = 30.0
STOP_GRACE_S = 5.0

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
        pull: how long polling waits for the core; None (webhook mode) apologises at once
            when the core does not answer.
    """

    def __init__(self, settings: TelegramSettings, core: CoreClient | None = None, state: ChannelState | None = None,
                 pull: PullSettings | None = None):
        self.settings = settings
        self.core = core or CoreClient()
        self.state = state or make_channel_state()
        self.pull = pull
        self.gate = CoreGate(self.core, CHANNEL, pull) if pull is not None else None
        self._taken_at: dict[int, float] = {}  # update_id → when polling took it (wall clock)
        self._keep: set[int] = set()  # claimed elsewhere: stays in the inbox for a later sweep
        self._in_flight: set[int] = set()
        self._chat_tail: dict[int, asyncio.Task[None]] = {}  # last dispatched update of each chat
        self._resumed = asyncio.Event()  # set (and replaced) when polling finds the core ready again
        self.limiter = ChatRateLimiter(settings.rate_per_min)
        self._warned: set[int] = set()
        # One conversation at a time per chat, so replies keep the order of the citizen's messages.
        self._chat_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    # -- building ---------------------------------------------------------------------------
    def build_application(self, polling: bool = False) -> Application:
        """The PTB application with this adapter's handlers (not started).

        Args:
            polling: for :func:`serve_polling`, which fetches updates itself (no PTB Updater).
        """
        base = self.settings.api_base_url
        builder = (ApplicationBuilder().token(self.settings.token).base_url(f"{base}/bot")
                   .base_file_url(f"{base}/file/bot").rate_limiter(AIORateLimiter(max_retries=2))
                   .concurrent_updates(MAX_CONCURRENT_UPDATES))
        app = builder.updater(None).build() if polling else builder.build()
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
                if claim.claim is Claim.IN_PROGRESS and self.pull is not None:
                    self._keep.add(update.update_id)
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
        if (not parsed or chat is None or not stored or parsed[1] >= len(stored.get("payloads", []))
                or stored.get("used_by") not in (None, update.update_id)):
            await query.answer(texts.OPTION_EXPIRED)
            return
        title, payload = stored["titles"][parsed[1]], stored["payloads"][parsed[1]]
        try:
            await query.answer(texts.OPTION_CHOSEN.format(title=title))
        except TelegramError as exc:  # too old when a restart finishes a press taken earlier: go on
            log.info("telegram: could not answer the button press update_id=%s (%s)", update.update_id,
                     type(exc).__name__)
        # Spent by this press (a retry of the same update after a restart may still use it).
        await asyncio.to_thread(self.state.put_note, CHANNEL, conversation_id(chat.id), f"opt:{parsed[0]}",
                                {**stored, "used_by": update.update_id}, OPTIONS_TTL_S)
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
        # chat_id: where a live agent's replies go (the app server seals it); never logged
        inbound = InboundMessage(channel=CHANNEL, sender_id=sender, text=text, message_id=str(update.update_id),
                                 metadata={"chat_id": str(chat_id)})
        started = time.monotonic()
        raw = await self._ask_core(inbound, update.update_id)
        if raw is None:
            await context.bot.send_message(chat_id, texts.UNAVAILABLE)
            return
        messages = [BotMessage.from_rasa(m) for m in raw]
        outgoing = render(messages)
        if not outgoing and not any(m.custom and LIVE_AGENT_HINT in m.custom for m in messages):
            outgoing = render([BotMessage(text=texts.NO_REPLY)])  # (passed to a live agent: nothing to say)
        for out in outgoing:
            if out.options is not None:
                await asyncio.to_thread(self.state.put_note, CHANNEL, sender, out.options.note_key,
                                        out.options.to_note(), OPTIONS_TTL_S)
            await context.bot.send_message(chat_id, out.text, reply_markup=out.keyboard)
        log.info("telegram: sender=%s update_id=%s chars=%d replies=%d in %.0f ms", hash_sender(sender),
                 update.update_id, len(text), len(outgoing), (time.monotonic() - started) * 1000)

    async def _ask_core(self, inbound: InboundMessage, update_id: int) -> list[dict[str, Any]] | None:
        """The core's answer; retried with backoff until the pull deadline (polling), else None."""
        backoff = Backoff(self.pull, self._taken_at.get(update_id, time.time())) if self.pull else None
        retrying = False
        while True:
            try:
                raw = await asyncio.to_thread(self.core.send_raw, inbound)
            except CoreUnavailable as exc:
                pause = backoff.next_pause() if backoff is not None else None
                if pause is None or backoff is None:
                    log.warning("telegram: core unavailable (%s) sender=%s update_id=%s; apologising",
                                exc, hash_sender(inbound.sender_id), update_id)
                    return None
                if not retrying:
                    log.warning("telegram: core unavailable (%s) sender=%s update_id=%s; retrying for up to %.0f s",
                                exc, hash_sender(inbound.sender_id), update_id, backoff.deadline - time.time())
                    retrying = True
                await _sleep_unless(self._resumed, pause)  # the core back: retry at once
                continue
            if retrying:
                log.info("telegram: core answered update_id=%s after retrying", update_id)
            return raw

    # -- long polling -------------------------------------------------------------------------
    async def poll(self, app: Application, stop: asyncio.Event, poll_timeout: int = 10) -> None:
        """Fetch and handle updates until ``stop``; ``app`` must be built with ``polling=True`` and started.

        Updates are fetched only while the core is ready; each is stored in the inbox before
        it is acknowledged (the next ``getUpdates`` offset) and removed once answered.
        """
        if self.gate is None:
            raise ValueError("long polling needs pull settings")
        tasks: set[asyncio.Task[None]] = set()
        limit = asyncio.Semaphore(MAX_CONCURRENT_UPDATES)
        offset: int | None = None
        fetch_pause = 1.0
        next_sweep = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_sweep:  # taken earlier (maybe by a previous run), not yet answered
                    for update, taken_at in await asyncio.to_thread(self._inbox, app):
                        self._dispatch(app, update, taken_at, limit, tasks)
                    next_sweep = time.monotonic() + SWEEP_S
                was_paused = self.gate.paused
                if not await self.gate.wait_async(stop):
                    break
                if was_paused:
                    self._resumed.set()
                    self._resumed = asyncio.Event()
                try:
                    updates = await app.bot.get_updates(offset=offset, timeout=poll_timeout,
                                                        allowed_updates=ALLOWED_UPDATES)
                except TelegramError as exc:
                    level = logging.ERROR if isinstance(exc, Conflict) else logging.WARNING
                    log.log(level, "telegram: getUpdates failed (%s); retrying in %.0f s", type(exc).__name__,
                            fetch_pause)
                    await _sleep_unless(stop, fetch_pause)
                    fetch_pause = min(fetch_pause * 2, MAX_FETCH_BACKOFF_S)
                    continue
                fetch_pause = 1.0
                if not updates:
                    continue
                taken = await asyncio.to_thread(self._take, updates)
                offset = max(u.update_id for u in updates) + 1  # acknowledged by the next call, once stored
                for update in updates:
                    self._dispatch(app, update, taken[update.update_id], limit, tasks)
        finally:
            if tasks:
                _done, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
                for task in pending:  # still waiting for the core: stays in the inbox for the next run
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    def _take(self, updates: tuple[Update, ...]) -> dict[int, float]:
        """Store fetched updates in the inbox (keeping the first time taken); update_id → taken_at."""
        taken: dict[int, float] = {}
        for update in updates:
            key = str(update.update_id)
            entry = self.state.get_note(CHANNEL, INBOX, key)
            if entry is None:
                entry = {"update": update.to_dict(), "taken_at": time.time()}
                self.state.put_note(CHANNEL, INBOX, key, entry, INBOX_TTL_S)
            taken[update.update_id] = float(entry["taken_at"])
        return taken

    def _inbox(self, app: Application) -> list[tuple[Update, float]]:
        out: list[tuple[Update, float]] = []
        for key, entry in sorted(self.state.list_notes(CHANNEL, INBOX).items(), key=lambda kv: int(kv[0])):
            update = Update.de_json(entry.get("update"), app.bot)
            if update is None:
                self.state.delete_note(CHANNEL, INBOX, key)
                continue
            out.append((update, float(entry.get("taken_at") or time.time())))
        return out

    def _dispatch(self, app: Application, update: Update, taken_at: float, limit: asyncio.Semaphore,
                  tasks: set[asyncio.Task[None]]) -> None:
        if update.update_id in self._in_flight:
            return
        self._in_flight.add(update.update_id)
        self._taken_at[update.update_id] = taken_at
        chat_id = update.effective_chat.id if update.effective_chat else None
        before = self._chat_tail.get(chat_id) if chat_id is not None else None
        task = asyncio.create_task(self._process(app, update, limit, before))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if chat_id is not None:
            self._chat_tail[chat_id] = task
            task.add_done_callback(lambda t: self._chat_tail.pop(chat_id, None) if self._chat_tail.get(chat_id) is t
                                   else None)

    async def _process(self, app: Application, update: Update, limit: asyncio.Semaphore,
                       before: asyncio.Task[None] | None) -> None:
        update_id = update.update_id
        try:
            if before is not None:  # one chat's updates in the order Telegram gave them
                await asyncio.wait([before])
            async with limit:
                await app.process_update(update)  # handler errors go to on_error, which apologises
            if update_id in self._keep:
                self._keep.discard(update_id)
            else:
                await asyncio.to_thread(self.state.delete_note, CHANNEL, INBOX, str(update_id))
        finally:
            self._in_flight.discard(update_id)
            self._taken_at.pop(update_id, None)

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


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def serve_polling(adapter: TelegramAdapter, stop: asyncio.Event, poll_timeout: int = 10) -> None:
    """Long-poll for ``adapter`` until ``stop`` is set (usable off the main thread, unlike ``run_polling``)."""
    app = adapter.build_application(polling=True)
    await app.initialize()
    try:
        await app.bot.delete_webhook(drop_pending_updates=False)  # getUpdates fails while a webhook is set
        await app.start()
        try:
            await adapter.poll(app, stop, poll_timeout)
        finally:
            await app.stop()
    finally:
        await app.shutdown()
