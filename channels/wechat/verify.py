"""WeChat settings (fail closed) and webhook verification: signature, freshness, safe-mode AES.

WeChat signs every callback: ``signature`` = SHA-1 of the sorted token, ``timestamp`` and
``nonce`` (query parameters). That signature does not cover the body, so:

* **safe mode** (``WECHAT_ENCODING_AES_KEY`` set; 安全模式 in the console): every message
  must come encrypted (``encrypt_type=aes``) with a ``msg_signature`` over the ciphertext;
  plaintext bodies are refused. Decryption (and encryption of passive replies) is
  wechatpy's :class:`~wechatpy.crypto.WeChatCrypto`, which also checks the app id inside.
* **plaintext mode** (no AES key; 明文模式): the body is taken as sent once the query
  signature is valid and the timestamp is within :data:`MAX_SKEW_S` of our clock.

Signatures are computed with wechatpy's :class:`~wechatpy.utils.WeChatSigner` and compared
in constant time. Anything else is :class:`Rejected` → 403, nothing processed.

Variables: ``WECHAT_TOKEN`` and ``WECHAT_APP_ID`` (required: the channel is off without
them), ``WECHAT_APP_SECRET`` (customer-service messages and menu publishing),
``WECHAT_ENCODING_AES_KEY`` (safe mode), ``WECHAT_API_BASE_URL`` (default
``https://api.weixin.qq.com``; tests point it at a local fake), ``WECHAT_REPLY_BUDGET``
(seconds the webhook waits for the core before answering ``success`` and sending the answer
as a customer-service message; default 4, at most 4.5: WeChat waits 5) and
``WECHAT_CORE_TIMEOUT`` (the core's budget on that asynchronous path, default 30).
"""

from __future__ import annotations

import binascii
import hmac
import os
import re
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

from channels.core import required_setting, seconds_setting

MAX_SKEW_S = 300
DEFAULT_REPLY_BUDGET_S, MAX_REPLY_BUDGET_S = 4.0, 4.5
DEFAULT_CORE_TIMEOUT_S, MAX_CORE_TIMEOUT_S = 30.0, 120.0
TOKEN_RE = re.compile(r"[A-Za-z0-9]{3,32}")
APP_ID_RE = re.compile(r"[A-Za-z0-9_-]{4,64}")
AES_KEY_RE = re.compile(r"[A-Za-z0-9]{43}")
NONCE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class WeChatSettingsError(ValueError):
    """The WeChat settings are missing or unusable; the message names every variable."""


class Rejected(Exception):
    """A webhook request that must not be processed (answered 403)."""


@dataclass(frozen=True)
class WeChatSettings:
    """How the adapter talks to WeChat (see the module docstring for the variables)."""

    token: str
    app_id: str
    app_secret: str | None
    aes_key: str | None
    api_base_url: str
    reply_budget: float
    core_timeout: float

    @property
    def safe_mode(self) -> bool:
        """Whether messages must arrive AES-encrypted."""
        return self.aes_key is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WeChatSettings:
        """Read and check the ``WECHAT_*`` variables.

        Raises:
            WeChatSettingsError: naming every missing or unusable variable.
        """
        env = os.environ if env is None else env
        problems: list[str] = []
        token = required_setting(env, "WECHAT_TOKEN", problems, TOKEN_RE,
                                 "must be 3-32 letters or digits (as the WeChat console requires)")
        app_id = required_setting(env, "WECHAT_APP_ID", problems, APP_ID_RE, "does not look like an AppID")
        aes_key = (env.get("WECHAT_ENCODING_AES_KEY") or "").strip() or None
        if aes_key and not AES_KEY_RE.fullmatch(aes_key):
            problems.append("WECHAT_ENCODING_AES_KEY must be the console's 43 letters and digits")
        base = (env.get("WECHAT_API_BASE_URL") or "https://api.weixin.qq.com").strip().rstrip("/")
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", base):
            problems.append(f"WECHAT_API_BASE_URL must be an http(s) URL, got {base!r}")
        budget = seconds_setting(env, "WECHAT_REPLY_BUDGET", DEFAULT_REPLY_BUDGET_S, MAX_REPLY_BUDGET_S, problems)
        core_timeout = seconds_setting(env, "WECHAT_CORE_TIMEOUT", DEFAULT_CORE_TIMEOUT_S, MAX_CORE_TIMEOUT_S,
                                       problems)
        if problems:
            raise WeChatSettingsError("wechat settings: " + "; ".join(problems))
        return cls(token=token, app_id=app_id, app_secret=(env.get("WECHAT_APP_SECRET") or "").strip() or None,
                   aes_key=aes_key, api_base_url=base, reply_budget=budget, core_timeout=core_timeout)


def signature_of(*parts: str) -> str:
    """WeChat's SHA-1 signature of ``parts`` (sorted, concatenated), computed by wechatpy."""
    from wechatpy.utils import WeChatSigner

    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


class WebhookVerifier:
    """Checks and opens WeChat callbacks; seals passive replies in safe mode.

    Args:
        settings: token, app id and AES key.
        clock: seconds since the epoch (tests pass their own).
    """

    def __init__(self, settings: WeChatSettings, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        self._crypto: Any = None
        if settings.aes_key:
            from wechatpy.crypto import WeChatCrypto

            self._crypto = WeChatCrypto(settings.token, settings.aes_key, settings.app_id)

    def check(self, args: Mapping[str, str]) -> None:
        """Check ``signature``, ``timestamp`` and ``nonce`` of the query.

        Raises:
            Rejected: missing, stale or wrong.
        """
        signature, timestamp, nonce = (str(args.get(k) or "") for k in ("signature", "timestamp", "nonce"))
        if not (signature and timestamp.isdigit() and NONCE_RE.fullmatch(nonce)):
            raise Rejected("signature, timestamp or nonce missing")
        if abs(self.clock() - int(timestamp)) > MAX_SKEW_S:
            raise Rejected("stale timestamp")
        if not hmac.compare_digest(signature_of(self.settings.token, timestamp, nonce), signature):
            raise Rejected("bad signature")

    def open(self, args: Mapping[str, str], body: bytes) -> str:
        """The message XML of a POST: verified, and decrypted in safe mode.

        Raises:
            Rejected: any check failed (see the module docstring).
        """
        self.check(args)
        encrypted = str(args.get("encrypt_type") or "").lower() == "aes"
        if self._crypto is None:
            if encrypted:
                raise Rejected("encrypted message but WECHAT_ENCODING_AES_KEY is not set")
            try:
                return body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Rejected("body is not UTF-8") from exc
        if not encrypted:
            raise Rejected("plaintext message in safe mode")
        return self._decrypt(args, body)

    def _decrypt(self, args: Mapping[str, str], body: bytes) -> str:
        import xmltodict
        from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

        msg_signature = str(args.get("msg_signature") or "")
        try:
            encrypt = xmltodict.parse(body)["xml"]["Encrypt"]
        except (ExpatError, ValueError, KeyError, TypeError) as exc:
            raise Rejected("no Encrypt element") from exc
        if not (msg_signature and isinstance(encrypt, str) and hmac.compare_digest(
                signature_of(self.settings.token, str(args["timestamp"]), str(args["nonce"]), encrypt),
                msg_signature)):
            raise Rejected("bad msg_signature")
        try:
            plain = self._crypto.decrypt_message({"Encrypt": encrypt}, msg_signature, args["timestamp"],
                                                 args["nonce"])
        except (InvalidSignatureException, InvalidAppIdException, ValueError, binascii.Error, IndexError,
                struct.error) as exc:
            raise Rejected(f"cannot decrypt ({type(exc).__name__})") from exc
        return plain.decode("utf-8") if isinstance(plain, bytes) else str(plain)

    def seal(self, reply_xml: str, args: Mapping[str, str]) -> str:
        """The reply as sent: encrypted and signed with the request's nonce in safe mode, unchanged otherwise."""
        if self._crypto is None:
            return reply_xml
        return str(self._crypto.encrypt_message(reply_xml, str(args["nonce"]), str(int(self.clock()))))
