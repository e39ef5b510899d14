"""A local fake of the Telegram Bot API (aiohttp), implementing the few methods the adapter uses.

``/bot<token>/<method>``: getMe, getUpdates (long polling with ``offset``/``timeout``),
sendMessage, answerCallbackQuery, editMessageReplyMarkup, setWebhook, deleteWebhook,
getWebhookInfo. Parameters arrive as JSON, form or multipart data, as with the real
API. Tests queue citizen updates (:meth:`FakeBotAPI.push_text`, :meth:`push_callback`)
and read what the bot did (:attr:`sent`, :attr:`answered`, :attr:`edited`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456789:AAEfakeTokenForLocalTestsOnly_abcdefgh"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "市民服务助手", "username": "citizen_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}


@dataclass
class FakeBotAPI:
    """State of the fake server; safe to use from the test thread."""

    token: str = TOKEN
    url: str = ""
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    answered: list[dict[str, Any]] = field(default_factory=list)
    edited: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _update_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- what the citizen does ---------------------------------------------------------------
    def text_update(self, chat_id: int, text: str, update_id: int | None = None) -> dict[str, Any]:
        """An Update carrying a private text message (not queued)."""
        user = {"id": chat_id, "is_bot": False, "first_name": "市民", "language_code": "zh-hans"}
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()),
                                   "chat": {"id": chat_id, "type": "private", "first_name": "市民"},
                                   "from": user, "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": update_id if update_id is not None else next(self._update_ids), "message": message}

    def push_text(self, chat_id: int, text: str) -> int:
        """Queue a text message from ``chat_id``; returns its update_id."""
        update = self.text_update(chat_id, text)
        with self.lock:
            self.updates.append(update)
        return int(update["update_id"])

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue a raw update."""
        with self.lock:
            self.updates.append(update)

    def push_callback(self, chat_id: int, data: str, message: dict[str, Any] | None = None) -> int:
        """Queue a button press on the bot's ``message`` (default: its last message to the chat)."""
        if message is None:
            message = next(m for m in reversed(self.sent) if m["chat_id"] == chat_id)
        update_id = next(self._update_ids)
        bot_message = {"message_id": message["message_id"], "date": int(time.time()),
                       "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, "text": message["text"]}
        update = {"update_id": update_id, "callback_query": {
            "id": f"cq{update_id}", "chat_instance": f"ci{chat_id}", "data": data, "message": bot_message,
            "from": {"id": chat_id, "is_bot": False, "first_name": "市民"}}}
        with self.lock:
            self.updates.append(update)
        return update_id

    # -- what the bot did --------------------------------------------------------------------
    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Messages the bot sent to ``chat_id``."""
        with self.lock:
            return [m for m in self.sent if m["chat_id"] == chat_id]

    def wait_for(self, chat_id: int, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until the bot sent ``count`` messages to ``chat_id``."""
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.messages_to(chat_id)) < count:
            time.sleep(0.05)
        got = self.messages_to(chat_id)
        assert len(got) >= count, f"expected {count} messages to {chat_id}, got {[m['text'] for m in got]}"
        return got

    # -- server ------------------------------------------------------------------------------
    def _result(self, result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one Bot API call (``/bot<token>/<method>``) as Telegram would."""
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await _params(request)
        with self.lock:
            self.calls.append(method)
        if method == "getMe":
            return self._result(BOT_USER)
        if method == "getUpdates":
            return self._result(await self._get_updates(params))
        if method == "sendMessage":
            text = str(params.get("text", ""))
            if not text or len(text) > 4096 or text == "FAIL_SEND":
                return web.json_response({"ok": False, "error_code": 400,
                                          "description": "Bad Request: message text is empty or too long"}, status=400)
            markup = params.get("reply_markup")
            markup = json.loads(markup) if isinstance(markup, str) else markup
            for row in (markup or {}).get("inline_keyboard", []):
                for button in row:
                    if len(button.get("callback_data", "").encode("utf-8")) > 64:
                        return web.json_response({"ok": False, "error_code": 400,
                                                  "description": "Bad Request: BUTTON_DATA_INVALID"}, status=400)
            chat_id = int(params["chat_id"])
            message = {"message_id": next(self._message_ids), "date": int(time.time()),
                       "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, "text": text}
            if markup:
                message["reply_markup"] = markup
            with self.lock:
                self.sent.append({"chat_id": chat_id, "text": text, "reply_markup": markup,
                                  "message_id": message["message_id"], "at": time.monotonic()})
            return self._result(message)
        if method == "answerCallbackQuery":
            with self.lock:
                self.answered.append(params)
            return self._result(True)
        if method == "editMessageReplyMarkup":
            with self.lock:
                self.edited.append(params)
            return self._result(True)
        if method == "setWebhook":
            with self.lock:
                self.webhook = dict(params)
            return self._result(True)
        if method == "deleteWebhook":
            with self.lock:
                self.webhook = {}
            return self._result(True)
        if method == "getWebhookInfo":
            return self._result({"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                                 "pending_update_count": 0})
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 2.0)
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if offset:  # confirming: updates below offset are gone for good
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                pending = list(self.updates[:100])
            if pending or time.monotonic() >= deadline:
                return pending
            await asyncio.sleep(0.05)


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        params.update(body if isinstance(body, dict) else {})
    elif request.can_read_body:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


@contextlib.contextmanager
def serve(api: FakeBotAPI | None = None) -> Iterator[FakeBotAPI]:
    """Serve ``api`` (default: a new one) on a free loopback port from a background event loop."""
    api = api or FakeBotAPI()
    app = web.Application()
    app.router.add_route("*", "/bot{token}/{method}", api.handle)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        api.url = f"http://127.0.0.1:{port}"
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield api
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
