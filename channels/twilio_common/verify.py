"""Twilio webhook settings and signature verification (fail closed).

Twilio signs every webhook with ``X-Twilio-Signature`` = HMAC of the URL it requested plus
the sorted POST parameters, keyed with the account's auth token. Behind a TLS-terminating
proxy ``request.url`` is not that URL, so the URL is rebuilt from ``PUBLIC_BASE_URL`` (the
address configured in the Twilio console) plus the request's path and query string.
Verification itself is twilio's own :class:`~twilio.request_validator.RequestValidator`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.core import required_setting

SIGNATURE_HEADER = "X-Twilio-Signature"
_URL_RE = re.compile(r"https?://[^/\s?#]+(/[^\s?#]*)?")


class MissingCredentials(Exception):
    """Required Twilio settings are absent: the Twilio channels must not start."""


@dataclass(frozen=True)
class TwilioSettings:
    """Secrets and addresses shared by the SMS and voice adapters.

    Attributes:
        auth_token: ``TWILIO_AUTH_TOKEN``, the key of webhook signatures (required).
        public_base_url: ``PUBLIC_BASE_URL``, the public origin Twilio calls, without a
            trailing slash, e.g. ``https://bot.example.gov.cn`` (required).
        account_sid: ``TWILIO_ACCOUNT_SID`` (only for outbound SMS).
        sms_from: ``TWILIO_SMS_FROM``, the number or messaging service outbound SMS come from.
    """

    auth_token: str
    public_base_url: str
    account_sid: str | None = None
    sms_from: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TwilioSettings:
        """Read the settings.

        Raises:
            MissingCredentials: naming every missing or unusable variable.
        """
        env = os.environ if env is None else env
        problems: list[str] = []
        token = required_setting(env, "TWILIO_AUTH_TOKEN", problems)
        base = required_setting(env, "PUBLIC_BASE_URL", problems, _URL_RE, "must be an http(s) URL without query")
        base = base.rstrip("/")
        if problems:
            raise MissingCredentials("; ".join(problems))
        return cls(auth_token=token, public_base_url=base,
                   account_sid=(env.get("TWILIO_ACCOUNT_SID") or "").strip() or None,
                   sms_from=(env.get("TWILIO_SMS_FROM") or "").strip() or None)


class WebhookVerifier:
    """Checks ``X-Twilio-Signature`` of requests against the public URL.

    Args:
        auth_token: the account's auth token.
        public_base_url: public origin (and optional path prefix) Twilio calls.
    """

    def __init__(self, auth_token: str, public_base_url: str):
        if not auth_token:
            raise MissingCredentials("TWILIO_AUTH_TOKEN is not set")
        from twilio.request_validator import RequestValidator

        self._validator = RequestValidator(auth_token)
        self.public_base_url = public_base_url.rstrip("/")

    def public_url(self, path: str, query_string: str = "") -> str:
        """The URL Twilio requested: public base + path (+ ``?query``)."""
        return self.public_base_url + path + (f"?{query_string}" if query_string else "")

    def is_valid(self, path: str, query_string: str, params: Any, signature: str | None) -> bool:
        """True when ``signature`` matches; a missing or empty signature is never valid.

        Args:
            path: the request path (``/channels/sms/webhook``).
            query_string: the raw query string, without ``?`` ("" when none).
            params: the POST form parameters (a Werkzeug ``MultiDict`` or a plain dict).
            signature: the ``X-Twilio-Signature`` header value.
        """
        if not signature:
            return False
        return bool(self._validator.validate(self.public_url(path, query_string), params, signature))
