"""Application factory of the app server."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, abort, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)

class Config:
    """Default configuration (embedded mode)."""

    MAX_CONTENT_LENGTH = 1 * 1024 * 1024  # bodies over 1 MiB are refused with 413
    JSON_AS_ASCII = False


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

    from channels.webchat.relay import bp as webchat
    from console.web import init_staff
    from knowledge.api import bp as knowledge_api

    app.register_blueprint(knowledge_api)
    app.register_blueprint(webchat)
    init_staff(app)  # staff console under /staff/

    from channels.preview import render_previews
    from channels.registry import register_channels

    register_channels(app)  # each adapter only when its credentials are configured
    app.extensions["channel_preview"] = render_previews  # the staff console's preview uses the real renderers

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
