"""Telegram settings (fail closed) and the webhook secret check.

* ``TELEGRAM_BOT_TOKEN`` (required; no default).
* ``TELEGRAM_MODE``: ``polling`` (default; ``python -m channels.telegram``) or ``webhook``
  (served by the app server at ``POST /channels/telegram/webhook``).
* ``TELEGRAM_WEBHOOK_SECRET``: required in webhook mode; Telegram sends it in
  ``X-Telegram-Bot-Api-Secret-Token`` (1–256 of ``A-Z a-z 0-9 _ -``).
* ``TELEGRAM_WEBHOOK_URL``: the public URL ``set-webhook`` registers (webhook mode).
* ``TELEGRAM_API_BASE_URL``: Bot API server (default ``https://api.telegram.org``; tests
  point it at a local fake).
* ``TELEGRAM_RATE_PER_MIN``: messages per chat per minute passed to the core (default 20).
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from channels.core import required_setting

TOKEN_RE = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,100}")
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramSettingsError(ValueError):
    """The Telegram settings are missing or unusable; the message names every variable."""


@dataclass(frozen=True)
class TelegramSettings:
    """How the adapter reaches Telegram."""

    token: str
    mode: str
    api_base_url: str
    webhook_secret: str | None
    webhook_url: str | None
    rate_per_min: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TelegramSettings:
        """Read and check the ``TELEGRAM_*`` variables.

        Raises:
            TelegramSettingsError: naming every missing or unusable variable.
        """
        env = os.environ if env is None else env
        problems: list[str] = []
        token = required_setting(env, "TELEGRAM_BOT_TOKEN", problems, TOKEN_RE,
                                 "does not look like a bot token (<id>:<secret>)")
        mode = (env.get("TELEGRAM_MODE") or "polling").strip().lower()
        if mode not in ("polling", "webhook"):
            problems.append(f"TELEGRAM_MODE must be polling or webhook, got {mode!r}")
        secret = (env.get("TELEGRAM_WEBHOOK_SECRET") or "").strip() or None
        if mode == "webhook" and not secret:
            problems.append("TELEGRAM_WEBHOOK_SECRET is not set (required in webhook mode)")
        if secret and not SECRET_RE.fullmatch(secret):
            problems.append("TELEGRAM_WEBHOOK_SECRET may only hold 1-256 of A-Z a-z 0-9 _ -")
        base = (env.get("TELEGRAM_API_BASE_URL") or "https://api.telegram.org").strip().rstrip("/")
        if not re.match(r"https?://[^/\s]+", base):
            problems.append(f"TELEGRAM_API_BASE_URL must be an http(s) URL, got {base!r}")
        raw_rate = (env.get("TELEGRAM_RATE_PER_MIN") or "20").strip()
        rate = int(raw_rate) if raw_rate.isdigit() else 0
        if not 1 <= rate <= 600:
            problems.append(f"TELEGRAM_RATE_PER_MIN must be 1-600, got {raw_rate!r}")
        if problems:
            raise TelegramSettingsError("telegram settings: " + "; ".join(problems))
        return cls(token=token, mode=mode, api_base_url=base, webhook_secret=secret,
                   webhook_url=(env.get("TELEGRAM_WEBHOOK_URL") or "").strip() or None, rate_per_min=rate)


def missing_reason(env: Mapping[str, str] | None = None) -> str | None:
    """Why the Telegram adapter cannot start (one line), or None."""
    try:
        TelegramSettings.from_env(env)
    except TelegramSettingsError as exc:
        return str(exc)
    return None


def secret_ok(expected: str | None, received: str | None) -> bool:
    """Constant-time check of the webhook secret header; fails closed when either side is missing."""
    if not expected or not received:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8"))
