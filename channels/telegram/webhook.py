"""Webhook mode: ``POST /channels/telegram/webhook`` on the app server (Flask, served by waitress).

The secret token Telegram sends in ``X-Telegram-Bot-Api-Secret-Token`` is compared in
constant time with ``TELEGRAM_WEBHOOK_SECRET``; wrong or missing → 403 before the body is
read. A valid update is processed by the PTB application, which runs on its own event
loop in a background thread started on the first update; the request waits for the
handlers, so Telegram only gets 200 once the reply was sent (and retries otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

from channels.core import CoreClient
from channels.state import ChannelState
from channels.telegram.verify import SECRET_HEADER, TelegramSettings, secret_ok

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/channels/telegram/webhook"
EXTENSION = "telegram_runtime"
PROCESS_TIMEOUT_S = 60.0
MAX_BODY_BYTES = 256 * 1024

bp = Blueprint("telegram", __name__)


class TelegramRuntime:
    """The PTB application on a private event loop thread, started lazily and thread-safe."""

    def __init__(self, settings: TelegramSettings, state: ChannelState | None = None, core: CoreClient | None = None):
        self.settings = settings
        self.state = state
        self.core = core
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app: Any = None

    def _ensure_started(self) -> None:
        with self._lock:
            if self._app is not None:
                return
            from channels.telegram.adapter import TelegramAdapter

            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="telegram-webhook-loop", daemon=True).start()
            app = TelegramAdapter(self.settings, core=self.core, state=self.state).build_application()
            try:
                asyncio.run_coroutine_threadsafe(app.initialize(), loop).result(PROCESS_TIMEOUT_S)
                asyncio.run_coroutine_threadsafe(app.start(), loop).result(PROCESS_TIMEOUT_S)
            except BaseException:
                loop.call_soon_threadsafe(loop.stop)
                raise
            self._loop, self._app = loop, app

    def process(self, data: dict[str, Any]) -> None:
        """Turn ``data`` into an Update and run the handlers; returns when they are done.

        Raises:
            ValueError: the body is not an Update.
        """
        self._ensure_started()
        from telegram import Update

        update = Update.de_json(data, self._app.bot)
        if update is None:
            raise ValueError("not an update")
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._app.process_update(update), self._loop).result(PROCESS_TIMEOUT_S)

    def shutdown(self) -> None:
        """Stop the application and its loop (tests, shutdown)."""
        with self._lock:
            if self._app is None or self._loop is None:
                return
            app, loop = self._app, self._loop
            self._app = self._loop = None
        try:
            asyncio.run_coroutine_threadsafe(app.stop(), loop).result(15)
            asyncio.run_coroutine_threadsafe(app.shutdown(), loop).result(15)
        finally:
            loop.call_soon_threadsafe(loop.stop)


def init_app(app: Flask, settings: TelegramSettings, state: ChannelState | None = None,
             core: CoreClient | None = None) -> None:
    """Register the webhook on ``app`` for ``settings`` (webhook mode), sharing the app's channel state."""
    app.extensions[EXTENSION] = TelegramRuntime(settings, state=state, core=core)
    app.register_blueprint(bp)


@bp.post(WEBHOOK_PATH)
def webhook() -> Any:
    """One update from Telegram."""
    runtime: TelegramRuntime = current_app.extensions[EXTENSION]
    if not secret_ok(runtime.settings.webhook_secret, request.headers.get(SECRET_HEADER)):
        log.warning("telegram: webhook call with a wrong or missing secret token from %s", request.remote_addr)
        return jsonify({"error": "forbidden"}), 403
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return jsonify({"error": "too_large"}), 413
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return jsonify({"error": "bad_request", "message": "not a Telegram update"}), 400
    try:
        runtime.process(data)
    except (ValueError, KeyError, TypeError):
        log.warning("telegram: webhook body is not a usable update (update_id=%s)", data.get("update_id"))
        return jsonify({"error": "bad_request", "message": "not a Telegram update"}), 400
    except FutureTimeout:
        log.error("telegram: update_id=%s not processed within %.0f s", data.get("update_id"), PROCESS_TIMEOUT_S)
        return jsonify({"error": "timeout"}), 503  # Telegram retries; the update_id claim dedupes
    return jsonify({"ok": True})
