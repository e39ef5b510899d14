"""Serve the app with waitress: ``python -m server`` (APP_HOST, APP_PORT, LOG_FORMAT)."""

from __future__ import annotations

import logging
import os
import sys

from waitress import serve

from common.secret_env import APP_SERVER_SECRETS, MissingSecretsError, require_secrets
from server.app import create_app
from server.logging_setup import RequestIdMiddleware, configure_logging


def main() -> None:
    """Start the app server on APP_HOST:APP_PORT (127.0.0.1:8000 by default)."""
    host = os.environ.get("APP_HOST", "127.0.0.1")
    try:  # every missing secret named at once, before anything is served
        require_secrets("app server", APP_SERVER_SECRETS, host)
    except MissingSecretsError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(2)
    configure_logging("app")
    port = int(os.environ.get("APP_PORT", "8000"))
    logging.getLogger(__name__).info("app server on http://%s:%d", host, port)
    serve(RequestIdMiddleware(create_app()), host=host, port=port, threads=int(os.environ.get("APP_THREADS", "8")))


if __name__ == "__main__":
    main()
