"""Rate limits of the public JSON endpoints (web chat relay, knowledge API) with Flask-Limiter.

Limits come from ``server/limits.yml``: per client address (after the trusted-proxy fix) on
both, and per web chat session on the chat. Counters live in memory in the embedded
profile and in Redis when ``RATELIMIT_STORAGE_URI`` (or ``REDIS_URL``) is set, so every
app-server instance shares them in production. Over a limit the citizen gets HTTP 429 with
a polite Chinese message as JSON.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Flask, jsonify, request
from flask_limiter import Limiter

LIMITS_FILE = Path(__file__).resolve().parent / "limits.yml"


def client_key() -> str:
    """Rate-limit key of the client: its address as the app sees it behind the trusted proxy."""
    return request.remote_addr or "unknown"


def storage_uri(env: Mapping[str, str] | None = None) -> str:
    """Where the counters live: ``RATELIMIT_STORAGE_URI``, else ``REDIS_URL``, else memory."""
    env = os.environ if env is None else env
    return env.get("RATELIMIT_STORAGE_URI", "").strip() or env.get("REDIS_URL", "").strip() or "memory://"


def load_limits(path: Path | None = None) -> dict[str, Any]:
    """The committed limits and the message shown when one is reached (``RATE_LIMITS_FILE`` overrides the path)."""
    path = path or Path(os.environ.get("RATE_LIMITS_FILE") or LIMITS_FILE)
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def init_limits(app: Flask, webchat: Blueprint, webchat_session_key: Any, knowledge_api: Blueprint) -> Limiter:
    """Attach the limiter to ``app`` and limit the two blueprints; answer their 429s as JSON.

    Call it after every other 429 handler is registered (the staff console's): those keep
    answering for their own pages.
    """
    limits = load_limits()
    limiter = Limiter(client_key, app=app, storage_uri=storage_uri(), strategy="moving-window",
                      key_prefix="citizenbot")
    chat, kb = limits.get("webchat") or {}, limits.get("knowledge_api") or {}
    text = str(limits.get("message") or "")
    limiter.limit(chat.get("per_client", "60 per minute"), key_func=client_key, error_message=text)(webchat)
    limiter.limit(chat.get("per_session", "20 per minute"), key_func=webchat_session_key,
                  error_message=text)(webchat)
    limiter.limit(kb.get("per_client", "120 per minute"), key_func=client_key, error_message=text)(knowledge_api)

    limited = {webchat.name, knowledge_api.name}
    earlier = dict(app.error_handler_spec[None].get(429) or {})  # e.g. the staff login throttle's page

    @app.errorhandler(429)
    def too_many(exc: Any) -> Any:
        if request.blueprint in limited:
            return jsonify({"error": "too_many_requests", "message": text}), 429
        handler = next(iter(earlier.values()), None)
        return handler(exc) if handler else exc

    app.extensions["rate_limiter"] = limiter
    return limiter
