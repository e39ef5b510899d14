"""Flask side of the knowledge base: the JSON API and the staff console.

:func:`create_app` builds both alone (the app server builds them together with the
web chat in ``server.app.create_app``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask


class Config:
    """Defaults of the knowledge web app."""

    MAX_CONTENT_LENGTH = 1 * 1024 * 1024
    JSON_AS_ASCII = False


class TestConfig(Config):
    """For tests: a fixed throw-away secret (tests pass their own database URL)."""

    TESTING = True
    SECRET_KEY = "test-only-" + "x" * 32


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The JSON API and the staff console on their own.

    Args:
        config: overrides of :class:`Config` (e.g. ``KNOWLEDGE_DB_URL``, ``SECRET_KEY``).
    """
    from knowledge.web.api import bp as api_bp
    from knowledge.web.staff import init_staff

    app = Flask(__name__)
    app.config.from_object(Config)
    if config:
        app.config.update(config)
    app.register_blueprint(api_bp)
    init_staff(app)
    return app
