"""Structured JSON log lines with request ids and masked personal data (standard library only).

Shared by the app server (``server.logging_setup``), the action server
(``actions.serve``) and, through ``deploy/logging/rasa.yml``, the Rasa servers, so every
process writes one JSON object per line::

    {"ts": "2026-11-30T09:00:00.123+00:00", "level": "INFO", "logger": "channels.webchat.relay",
     "process": "app", "request_id": "4f0c…", "msg": "…"}

The message (and any exception text) passes through :func:`common.pii.mask_text`, so an ID
number, phone number or e-mail address that slips into a log call is masked anyway.
``request_id`` comes from a context variable the servers set per request (from the
``X-Request-ID`` header nginx adds, or a fresh one).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import sys
import uuid
from typing import Any

from common.pii import mask_text

REQUEST_ID_HEADER = "X-Request-ID"
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_MAX_REQUEST_ID = 64
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def clean_request_id(value: str | None) -> str:
    """The caller's request id when it is short and printable, else a fresh one."""
    if value and len(value) <= _MAX_REQUEST_ID and all(c.isalnum() or c in "-_.:" for c in value):
        return value
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per record; message, exception and extra string fields masked.

    Args:
        process_name: the deployable writing the log (``app``, ``actions``, ``rasa``);
            default ``LOG_PROCESS_NAME`` or the program name.
    """

    def __init__(self, process_name: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.process_name = process_name or os.environ.get("LOG_PROCESS_NAME") or os.path.basename(sys.argv[0])

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad %-format must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": self.process_name,
            "pid": record.process,
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "msg": mask_text(message),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in out and not key.startswith("_"):
                out[key] = mask_text(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exc"] = mask_text(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = mask_text(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, default=str)


class MaskingTextFormatter(logging.Formatter):
    """The classic one-line text format, with personal data masked (embedded profile)."""

    def format(self, record: logging.LogRecord) -> str:
        """Format as usual, then mask."""
        return mask_text(super().format(record))


def configure(process_name: str, level: str | None = None, stream: Any = None,
              json_lines: bool = True) -> logging.Handler:
    """Send every log record of this process to ``stream`` (stderr by default), masked.

    Args:
        process_name: written into every JSON line.
        level: root level (default ``LOG_LEVEL`` or INFO).
        stream: where lines go.
        json_lines: JSON (production) or the readable text format (embedded).

    Returns:
        The installed handler.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(process_name) if json_lines else
                         MaskingTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or os.environ.get("LOG_LEVEL") or "INFO").upper())
    return handler
