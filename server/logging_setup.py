"""JSON logs with request ids for the app server (``LOG_FORMAT=json``; plain text otherwise).

:func:`configure_logging` installs :class:`common.jsonlog.JsonFormatter` on the root logger;
:class:`RequestIdMiddleware` wraps the WSGI app so every log line written while a request
is handled carries its id (``X-Request-ID`` from nginx, or a fresh one), and the response
echoes the id back in the same header.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from common.jsonlog import REQUEST_ID_HEADER, clean_request_id, configure, request_id_var

_ENVIRON_KEY = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")


def configure_logging(process_name: str = "app") -> None:
    """JSON lines when ``LOG_FORMAT`` is ``json`` (the production profile), else readable text; both masked."""
    configure(process_name, os.environ.get("LOG_LEVEL", "INFO"),
              json_lines=os.environ.get("LOG_FORMAT", "text").lower() == "json")


class RequestIdMiddleware:
    """WSGI middleware: a request id per request, in the logs and the response header.

    Args:
        app: the WSGI application to wrap.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Handle one request with its id set for the duration of the call."""
        rid = clean_request_id(environ.get(_ENVIRON_KEY))
        environ[_ENVIRON_KEY] = rid
        token = request_id_var.set(rid)

        def _start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [h for h in headers if h[0].lower() != REQUEST_ID_HEADER.lower()]
            headers.append((REQUEST_ID_HEADER, rid))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            return self.app(environ, _start)
        finally:
            request_id_var.reset(token)
