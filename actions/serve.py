"""Run the action server with masked (JSON) logs and request ids: ``python -m actions.serve``.

The same server as ``python -m rasa_sdk --actions actions`` (same arguments; host from
``SANIC_HOST``), plus: logs go through :mod:`common.jsonlog` (JSON lines when
``LOG_FORMAT=json``, masked either way) and every request's ``X-Request-ID`` (set by
nginx, or fresh) is attached to the log lines written while it runs and echoed back.
One worker process per server; scale by running more servers behind the balancer.

Only the core may call it: every ``/webhook`` and ``/actions`` request must carry
``ACTION_SERVER_TOKEN`` in ``X-Action-Token`` (Rasa sends it: ``action_endpoint.headers``
in the endpoints files), else 403 and nothing runs. Without a token only loopback callers
are served, and the server refuses to start beyond loopback (``SANIC_HOST``) or in the
production profile without every secret it reads (one message names all the missing ones).
``/health`` stays open for probes.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from common.jsonlog import REQUEST_ID_HEADER, clean_request_id, configure, request_id_var
from common.secret_env import (
    ACTION_SERVER_SECRETS,
    ACTION_TOKEN_HEADER,
    MissingSecretsError,
    require_secrets,
    token_matches,
)

log = logging.getLogger(__name__)

TOKEN_ENV = "ACTION_SERVER_TOKEN"
_GUARDED_PATHS = ("/webhook", "/actions")
_LOOPBACK_PEERS = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


def caller_allowed(path: str, offered: str | None, peer: str | None, token: str) -> bool:
    """Whether a request may reach ``path``: the shared token, or (no token configured) a loopback caller."""
    if not path.rstrip("/").endswith(_GUARDED_PATHS):
        return True
    if token:
        return token_matches(offered, token)
    return (peer or "") in _LOOPBACK_PEERS


def build_app(actions_package: str = "actions", cors: str | None = None, token: str | None = None) -> Any:
    """The rasa_sdk Sanic app with the caller check and the request-id middleware.

    Args:
        actions_package: the package whose actions are served.
        cors: CORS origins (rasa_sdk's ``--cors``).
        token: the shared token (default ``ACTION_SERVER_TOKEN``).
    """
    from rasa_sdk.endpoint import create_app_for_serve
    from rasa_sdk.executor import ActionExecutor
    from sanic import response as sanic_response

    shared = (os.environ.get(TOKEN_ENV, "") if token is None else token).strip()
    executor = ActionExecutor()
    executor.register_package(actions_package)
    app = create_app_for_serve(executor, cors_origins=cors)

    @app.on_request
    async def _only_the_core(request: Any) -> Any:
        if not caller_allowed(request.path, request.headers.get(ACTION_TOKEN_HEADER), request.ip, shared):
            log.warning("action server: refused a call to %s without the core's token", request.path)
            return sanic_response.json({"error": "forbidden"}, status=403)
        return None

    @app.on_request
    async def _request_id(request: Any) -> None:
        rid = clean_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.ctx.request_id = rid
        request.ctx.rid_token = request_id_var.set(rid)

    @app.on_response
    async def _echo_request_id(request: Any, response: Any) -> None:
        rid = getattr(request.ctx, "request_id", None)
        if rid:
            response.headers[REQUEST_ID_HEADER] = rid

    return app


def main(argv: list[str] | None = None) -> int:
    """Parse rasa_sdk's arguments, configure logging and serve until stopped."""
    from rasa_sdk.endpoint import create_argument_parser

    args = create_argument_parser().parse_args(argv)
    host = os.environ.get("SANIC_HOST", "127.0.0.1")
    try:
        require_secrets("action server", ACTION_SERVER_SECRETS, host)  # before anything is served
    except MissingSecretsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    level = logging.getLevelName(args.loglevel) if isinstance(args.loglevel, int) else args.loglevel
    configure("actions", os.environ.get("LOG_LEVEL") or level or "INFO",
              json_lines=os.environ.get("LOG_FORMAT", "text").lower() == "json")
    app = build_app(args.actions_module or args.actions or "actions", args.cors)
    for name in ("sanic.root", "sanic.error", "sanic.access", "sanic.server", "sanic.websockets"):
        sanic_log = logging.getLogger(name)  # Sanic installs its own text handlers: route them to ours
        sanic_log.handlers.clear()
        sanic_log.propagate = True
    log.info("action server on http://%s:%d", host, args.port)
    app.run(host=host, port=args.port, single_process=True, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
