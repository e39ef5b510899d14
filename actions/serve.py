"""Run the action server with masked (JSON) logs and request ids: ``python -m actions.serve``.

The same server as ``python -m rasa_sdk --actions actions`` (same arguments; host from
``SANIC_HOST``), plus: logs go through :mod:`common.jsonlog` (JSON lines when
``LOG_FORMAT=json``, masked either way) and every request's ``X-Request-ID`` (set by
nginx, or fresh) is attached to the log lines written while it runs and echoed back.
One worker process per server; scale by running more servers behind the balancer.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from common.jsonlog import REQUEST_ID_HEADER, clean_request_id, configure, request_id_var

log = logging.getLogger(__name__)


def build_app(actions_package: str = "actions", cors: str | None = None) -> Any:
    """The rasa_sdk Sanic app with the request-id middleware."""
    from rasa_sdk.endpoint import create_app_for_serve
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package(actions_package)
    app = create_app_for_serve(executor, cors_origins=cors)

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
    level = logging.getLevelName(args.loglevel) if isinstance(args.loglevel, int) else args.loglevel
    configure("actions", os.environ.get("LOG_LEVEL") or level or "INFO",
              json_lines=os.environ.get("LOG_FORMAT", "text").lower() == "json")
    app = build_app(args.actions_module or args.actions or "actions", args.cors)
    for name in ("sanic.root", "sanic.error", "sanic.access", "sanic.server", "sanic.websockets"):
        sanic_log = logging.getLogger(name)  # Sanic installs its own text handlers: route them to ours
        sanic_log.handlers.clear()
        sanic_log.propagate = True
    host = os.environ.get("SANIC_HOST", "127.0.0.1")
    log.info("action server on http://%s:%d", host, args.port)
    app.run(host=host, port=args.port, single_process=True, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
