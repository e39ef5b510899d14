"""Application factory of the app server."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, abort, jsonify, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)

class Config:
    """Default configuration (embedded mode)."""

    MAX_CONTENT_LENGTH = 1 * 1024 * 1024  # bodies over 1 MiB are refused with 413
    JSON_AS_ASCII = False


def speech_terms() -> list[str]:
    """The hotline's speech hints from the knowledge base: service names and citizens' words for them.

    Read once when the voice channel starts; an unreachable knowledge base leaves the menu
    words only (logged), it never stops the app server.
    """
    from knowledge.db import get_engine, session_factory
    from knowledge.lexicon import load_synonyms
    from knowledge.lexicon import speech_terms as terms_of
    from knowledge.repository import KnowledgeRepository
    from knowledge.settings import KnowledgeSettings

    settings = KnowledgeSettings.from_env()
    try:
        repo = KnowledgeRepository(session_factory(get_engine(settings.db_url)))
        names = [svc.name for svc in repo.list_services()]
    except SQLAlchemyError as exc:
        log.warning("voice: speech hints without the service names (knowledge base unavailable: %s)",
                    type(exc).__name__)
        names = []
    return terms_of(names, load_synonyms(settings.synonyms_path))


def live_agent_desk(app: Flask) -> Any:
    """The live-agent desk (``server.live_agent``) on the console's database, wired into ``app.extensions``.

    ``conversation_gate`` for the channels, ``webchat_pending`` for the web chat's poll and
    ``live_agent_desk`` for the console's agent queue. ``LIVE_AGENT_DESK`` in the config
    replaces it (tests).
    """
    from casework.handoff import DeskSettings, HandoffRepository
    from channels.registry import channel_state
    from channels.telegram.verify import TelegramSettings, TelegramSettingsError
    from common.sealing import sealer_from_env
    from console.web.deps import factory
    from server.live_agent import CoreApi, LiveAgentDesk, Telegram

    desk = app.config.get("LIVE_AGENT_DESK")
    if desk is None:
        with app.app_context():
            repo = HandoffRepository(factory())
        try:
            tg = TelegramSettings.from_env()
            telegram = Telegram(tg.api_base_url, tg.token)
        except TelegramSettingsError:
            telegram = None
        desk = LiveAgentDesk(repo=repo, core=CoreApi(), sealer=sealer_from_env(), telegram=telegram,
                             channel_state=channel_state(app), settings=DeskSettings.load())
    app.extensions["live_agent_desk"] = desk
    app.extensions["conversation_gate"] = desk
    app.extensions["webchat_pending"] = desk.pending_webchat
    return desk


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app server.

    Args:
        config: overrides of :class:`Config` (tests pass their own).
    """
    app = Flask(__name__)
    app.config.from_object(Config)
    if config:
        app.config.update(config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    from channels.webchat.notices import bp as webchat_notices
    from channels.webchat.relay import bp as webchat
    from channels.webchat.relay import session_key
    from console.web import init_staff
    from knowledge.api import bp as knowledge_api
    from server.limits import init_limits
    from server.proxy import TrustedProxyFix, trusted_proxies

    # The client's address and scheme as the reverse proxy saw them (rate limits, lockouts, login
    # throttling, HSTS) — believed only from TRUSTED_PROXIES (a config override for tests).
    proxy_env = {"TRUSTED_PROXIES": str(app.config["TRUSTED_PROXIES"])} if "TRUSTED_PROXIES" in app.config else None
    app.wsgi_app = TrustedProxyFix(app.wsgi_app, trusted_proxies(proxy_env))  # type: ignore[method-assign]
    app.register_blueprint(knowledge_api)
    app.register_blueprint(webchat)
    app.register_blueprint(webchat_notices)  # notices waiting for a chat session (outbox)
    init_staff(app)  # staff console under /staff/
    init_limits(app, webchat, session_key, knowledge_api)  # per client address and per chat session
    desk = live_agent_desk(app)  # 转人工: the channels' conversation gate and the agents' queue

    from channels.preview import render_previews
    from channels.registry import register_channels

    register_channels(app, speech_terms=speech_terms)  # each adapter only when its credentials are configured
    app.extensions["channel_preview"] = render_previews  # the staff console's preview uses the real renderers
    desk.sms_sender = app.extensions.get("sms_sender")

    @app.before_request
    def refuse_oversized_bodies() -> None:
        # Checked before routing so no endpoint ever reads an oversized body.
        limit = request.max_content_length  # MAX_CONTENT_LENGTH unless a view allows more (staff import)
        if limit is not None and request.content_length is not None and request.content_length > limit:
            abort(413)

    @app.get("/")
    def index() -> str:
        return render_template("index.html")

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Any:
        return jsonify({"error": "too_large", "message": "请求内容过大"}), 413

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return exc
        log.exception("unhandled error")
        return jsonify({"error": "internal", "message": "服务暂时不可用，请稍后再试或拨打 12345"}), 500

    return app
