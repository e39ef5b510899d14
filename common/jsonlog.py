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
import re
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


# Credentials that travel inside URLs: a Telegram bot token (``bot123456:AA…`` in every Bot
# API URL, which httpx logs) and ``token=`` query parameters. Never written to a log.
_URL_SECRET = re.compile(r"(?<![A-Za-z0-9])(bot)?[0-9]{5,12}:[A-Za-z0-9_-]{30,}|(?<=[?&]token=)[^&\s\"']+")
# Loggers that write request URLs at INFO: only their warnings reach the log.
QUIET_LOGGERS = ("httpx", "httpcore", "telegram.ext.ExtBot")


def redact(text: str) -> str:
    """Personal data masked (:func:`common.pii.mask_text`) and URL-borne credentials removed."""
    text = mask_text(text)
    return _URL_SECRET.sub(lambda m: "bot<redacted>" if m.group(1) else "<redacted>", text) if text else text


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
            "msg": redact(message),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in out and not key.startswith("_"):
                out[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, default=str)


class MaskingTextFormatter(logging.Formatter):
    """The classic one-line text format, with personal data masked (embedded profile)."""

    def format(self, record: logging.LogRecord) -> str:
        """Format as usual, then mask."""
        return redact(super().format(record))


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
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
