"""Local web chat: one self-contained page (``GET /chat/``) and its JSON relay (``POST /chat/api/message``).

The page is ``templates/webchat/chat.html``; its script and style live in ``static/chat.js``
and ``static/chat.css`` and are inlined under a per-request CSP nonce, so the page loads
nothing from anywhere else.

The page never talks to Rasa directly. It posts ``{"message"}`` to this blueprint, which
validates the input and forwards it to the core's web chat relay (``POST
{RASA_URL}/webhooks/webchat/webhook``, see ``bot/connectors/relay.py``); the bot's
messages come back unchanged as ``{"messages": [...]}``. Whatever goes wrong with the
core, the citizen gets a polite Chinese apology (503), never backend detail.

The conversation is named by the server, never by the browser: the page gets a signed,
HttpOnly, SameSite=Strict cookie holding a random session id (issued with the page, on a
message without a valid cookie, and afresh by ``POST /chat/api/session`` for "新对话").
A ``sender`` field in the body is ignored. The client's address (``request.remote_addr``,
which the app's trusted-proxy fix sets from ``X-Forwarded-For`` only for the configured
proxy) travels to the core as ``metadata.client_address``, so identity checks and
booking caps count per address as well as per session.

Settings (read per request, validated once when the blueprint is registered so a bad
value stops the app at start-up; the shared :class:`channels.core.CoreSettings` with the
web chat's own timeout variable):

* ``RASA_URL``: base URL of the core, default ``http://127.0.0.1:${RASA_PORT:-5005}``.
* ``CHAT_TIMEOUT``: seconds to wait for the core (connect and read), default 10.
* ``RELAY_TOKEN``: sent as ``X-Relay-Token`` when set.
* ``SENDER_HASH_SALT``: key of the pseudonymous sender ids in logs.
* the app's ``SECRET_KEY`` signs the session cookie.

Session ids are prefixed with ``webchat-`` before they reach the core, so a web chat can
never reach the tracker of an SMS, Telegram or mail conversation.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup

from channels.core import CoreClient, CoreSettings, CoreUnavailable, InboundMessage
from common.identity import hash_sender

log = logging.getLogger(__name__)

bp = Blueprint("webchat", __name__, url_prefix="/chat", template_folder="templates")
STATIC_DIR = Path(__file__).resolve().parent / "static"

CHANNEL = "webchat"
RELAY_PATH = f"/webhooks/{CHANNEL}/webhook"
SENDER_PREFIX = "webchat-"
SESSION_RE = re.compile(r"[0-9a-f]{32}")
SESSION_COOKIE = "webchat_session"
SESSION_SALT = "webchat-session"
SESSION_MAX_AGE_S = 12 * 3600  # a day's visit; then the page simply starts a new conversation
MAX_MESSAGE_CHARS = 2000
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 120.0
# The page gives the server this much longer than CHAT_TIMEOUT before it gives up itself.
CLIENT_TIMEOUT_MARGIN_S = 5.0

UNAVAILABLE_TEXT = "网络或服务暂时不可用，请稍后再试，或拨打12345"


@dataclass(frozen=True)
class ChatSettings(CoreSettings):
    """Where and how the web chat reaches the conversation core (``CHAT_TIMEOUT`` for the timeout)."""

    @property
    def relay_url(self) -> str:
        """Full URL of the web chat relay webhook."""
        return self.rasa_url + RELAY_PATH

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, timeout_var: str = "CHAT_TIMEOUT",
                 default_timeout: float = DEFAULT_TIMEOUT, max_timeout: float = MAX_TIMEOUT) -> Self:
        """Read the settings (``RASA_URL``, ``CHAT_TIMEOUT``, ``RELAY_TOKEN``).

        Raises:
            ValueError: naming every variable that holds an unusable value.
        """
        return super().from_env(env, timeout_var=timeout_var, default_timeout=default_timeout,
                                max_timeout=max_timeout)


@bp.record_once
def _check_settings(state: BlueprintSetupState) -> None:
    # Fail at start-up, not on the first citizen's message.
    ChatSettings.from_env()


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message}), status


def _serializer() -> URLSafeTimedSerializer:
    if not current_app.secret_key:
        raise RuntimeError("the app has no SECRET_KEY to sign web chat sessions")
    return URLSafeTimedSerializer(current_app.secret_key, salt=SESSION_SALT)


def cookie_session() -> str | None:
    """The session id of the request's valid signed cookie, or None (missing, forged, expired)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        value = _serializer().loads(raw, max_age=SESSION_MAX_AGE_S)
    except BadSignature:  # also SignatureExpired
        return None
    return value if isinstance(value, str) and SESSION_RE.fullmatch(value) else None


def session_key() -> str:
    """Rate-limit key of the conversation: the cookie's session, else the client address."""
    sid = g.get("webchat_session") or cookie_session()
    return f"session:{sid}" if sid else f"client:{request.remote_addr or ''}"


def _session(*, fresh: bool = False) -> tuple[str, bool]:
    """(the request's session id, whether it is new and must be set as a cookie)."""
    sid = None if fresh else cookie_session()
    issued = sid is None
    if sid is None:
        sid = secrets.token_hex(16)
    g.webchat_session = sid
    return sid, issued


def _with_cookie(res: Response, sid: str) -> Response:
    res.set_cookie(SESSION_COOKIE, _serializer().dumps(sid), max_age=SESSION_MAX_AGE_S, httponly=True,
                   samesite="Strict", secure=request.is_secure, path=bp.url_prefix or "/")
    return res


def client_address() -> str:
    """The client's address as the app sees it (after the trusted-proxy fix), "" when unusable."""
    try:
        return str(ipaddress.ip_address(request.remote_addr or ""))
    except ValueError:
        return ""


@bp.post("/api/message")
def message() -> Any:
    """Relay one message: ``{"message": str}`` → ``{"messages": [...]}`` (any ``sender`` is ignored)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(400, "bad_request", "请求格式不正确，请刷新页面后重试")
    text = data.get("message")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "empty_message", "请输入您要咨询的内容")
    text = text.strip()
    if len(text) > MAX_MESSAGE_CHARS:
        return _error(400, "message_too_long", f"消息太长，请控制在{MAX_MESSAGE_CHARS}字以内")

    sid, issued = _session()
    settings = ChatSettings.from_env()
    core_sender = SENDER_PREFIX + sid
    metadata = {"client_address": client_address()}
    started = time.monotonic()
    inbound = InboundMessage(channel=CHANNEL, sender_id=core_sender, text=text, metadata=metadata)
    core = CoreClient(settings)
    gate = current_app.extensions.get("conversation_gate")  # the live-agent desk, when the app has one
    try:
        messages = gate.relay(inbound, core.send_raw) if gate is not None else core.send_raw(inbound)
    except CoreUnavailable as exc:
        log.warning("webchat: core unavailable (%s) sender=%s after %.0f ms",
                    exc, hash_sender(core_sender), (time.monotonic() - started) * 1000)
        res, status = _error(503, "core_unavailable", UNAVAILABLE_TEXT)
        return (_with_cookie(res, sid) if issued else res), status
    log.info("webchat: sender=%s chars=%d replies=%d in %.0f ms",
             hash_sender(core_sender), len(text), len(messages), (time.monotonic() - started) * 1000)
    res = jsonify({"messages": messages})
    return _with_cookie(res, sid) if issued else res


@bp.post("/api/session")
def new_session() -> Any:
    """"新对话": a fresh server-issued session (JSON only, so another site's form cannot reset it)."""
    if not request.is_json:
        return _error(400, "bad_request", "请求格式不正确，请刷新页面后重试")
    sid, _ = _session(fresh=True)
    return _with_cookie(jsonify({"ok": True}), sid)


@bp.post("/api/poll")
def poll() -> Any:
    """Messages for the citizen that did not answer a message of theirs (a live agent's replies).

    ``{}`` → ``{"messages": [...]}`` for the session of the signed cookie (empty without a session
    or a live-agent desk). The page polls while a live agent session is open.
    """
    sid = cookie_session()
    pending = current_app.extensions.get("webchat_pending")
    if sid is None or pending is None:
        return jsonify({"messages": []})
    return jsonify({"messages": pending(SENDER_PREFIX + sid)})


@bp.get("/")
def page() -> Response:
    """The chat page: inline CSS and JS under a nonce-based Content-Security-Policy, nothing external."""
    nonce = secrets.token_urlsafe(16)
    client_timeout_ms = int((ChatSettings.from_env().timeout + CLIENT_TIMEOUT_MARGIN_S) * 1000)
    html = render_template("webchat/chat.html", nonce=nonce, client_timeout_ms=client_timeout_ms,
                           css=_static("chat.css"), js=_static("chat.js"))
    res = Response(html, mimetype="text/html")
    res.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    res.headers["X-Content-Type-Options"] = "nosniff"
    res.headers["Referrer-Policy"] = "no-referrer"
    res.headers["Cache-Control"] = "no-store"
    sid, issued = _session()
    return _with_cookie(res, sid) if issued else res


@lru_cache(maxsize=4)
def _static(name: str) -> Markup:
    """A file of ``static/`` as trusted markup (ours, inlined under the nonce)."""
    return Markup((STATIC_DIR / name).read_text(encoding="utf-8"))
