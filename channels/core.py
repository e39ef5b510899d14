"""What every channel adapter shares: messages, capabilities, the core client and the sender.

A channel only moves and renders messages (see ../STYLE.md): it verifies the vendor's
request, parses it into an :class:`InboundMessage`, asks the Rasa core through its relay
(``POST {RASA_URL}/webhooks/<channel>/webhook``, ``bot/connectors/relay.py``), and
renders the returned :class:`BotMessage` list with its declared :class:`Capabilities`.
Nothing here imports ``rasa``, ``actions`` or ``knowledge``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import requests

log = logging.getLogger(__name__)

DEFAULT_CORE_TIMEOUT = 10.0
MAX_CORE_TIMEOUT = 120.0


@dataclass(frozen=True)
class Button:
    """One option offered to the citizen.

    Attributes:
        title: what the citizen sees or hears (Chinese).
        payload: what goes back to the core when chosen (an intent payload like
            ``/affirm`` or plain text).
    """

    title: str
    payload: str


@dataclass(frozen=True)
class BotMessage:
    """One bot message as the core returns it (Rasa's REST/collecting output channel shape)."""

    text: str = ""
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    custom: Mapping[str, Any] | None = None

    @classmethod
    def from_rasa(cls, data: Mapping[str, Any]) -> BotMessage:
        """Build from one element of the core's JSON answer; unknown keys are ignored."""
        buttons = []
        for b in data.get("buttons") or ():
            if isinstance(b, Mapping) and isinstance(b.get("payload"), str) and b["payload"]:
                raw_title = b.get("title")
                title = raw_title if isinstance(raw_title, str) and raw_title else str(b["payload"])
                buttons.append(Button(title=title, payload=str(b["payload"])))
        raw_text = data.get("text")
        text = raw_text if isinstance(raw_text, str) else ""
        image = data.get("image") if isinstance(data.get("image"), str) else None
        custom = data.get("custom") if isinstance(data.get("custom"), Mapping) else None
        return cls(text=text, buttons=tuple(buttons), image=image, custom=custom)


@dataclass(frozen=True)
class InboundMessage:
    """A citizen's message, vendor details removed.

    Attributes:
        channel: the channel name (``sms``, ``voice``, ``mail``, ``telegram``, ``webchat``),
            which is also the relay the core receives it on.
        sender_id: channel-scoped, stable conversation id the core sees (e.g.
            ``sms-<hash of E.164>``); never a raw phone number or address.
        text: the message text (or a button payload).
        message_id: the vendor's id for dedupe (MessageSid, CallSid+step, Message-ID, update_id).
        metadata: extra facts the actions may use (e.g. the raw phone number a booking
            needs); never logged.
    """

    channel: str
    sender_id: str
    text: str
    message_id: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show; renderers degrade everything else.

    Attributes:
        max_chars: longest single reply the channel accepts (None = no practical limit).
        buttons: native buttons (web chat, Telegram inline keyboards).
        links: URLs are useful (not on voice).
        speech: replies are spoken (voice): no URLs, emoji or long lists.
        rich_text: HTML or Markdown rendering (mail HTML part, Telegram).
    """

    max_chars: int | None = None
    buttons: bool = False
    links: bool = True
    speech: bool = False
    rich_text: bool = False


def seconds_setting(env: Mapping[str, str], name: str, default: float, maximum: float, problems: list[str]) -> float:
    """A timeout in seconds from ``env[name]``: ``default`` when unset; an unusable value is reported.

    Args:
        env: the variables to read.
        name: the variable.
        default: the value when the variable is unset or blank.
        maximum: the largest value allowed (values must also be above 0).
        problems: where a message naming the variable is appended when its value is unusable.
    """
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= maximum:
        problems.append(f"{name} must be seconds in (0, {maximum:g}], got {raw!r}")
        return default
    return value


class CoreUnavailable(Exception):
    """The core could not be reached in time or did not answer with a list of bot messages."""


@dataclass(frozen=True)
class CoreSettings:
    """Where and how adapters reach the conversation core."""

    rasa_url: str
    timeout: float
    relay_token: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, timeout_var: str = "CORE_TIMEOUT",
                 default_timeout: float = DEFAULT_CORE_TIMEOUT, max_timeout: float = MAX_CORE_TIMEOUT) -> Self:
        """Read ``RASA_URL`` (default ``http://127.0.0.1:$RASA_PORT``), the timeout, ``RELAY_TOKEN``.

        Args:
            env: the variables to read (``os.environ`` when None).
            timeout_var: the channel's timeout variable (``CORE_TIMEOUT`` unless it has its own).
            default_timeout: seconds when that variable is unset.
            max_timeout: the largest value it may hold.

        Raises:
            ValueError: naming every variable that holds an unusable value.
        """
        env = os.environ if env is None else env
        problems: list[str] = []
        default_url = f"http://127.0.0.1:{env.get('RASA_PORT') or '5005'}"
        rasa_url = (env.get("RASA_URL") or default_url).strip().rstrip("/")
        if not re.match(r"https?://[^/\s]+", rasa_url):
            problems.append(f"RASA_URL must be an http(s) URL, got {rasa_url!r}")
        timeout = seconds_setting(env, timeout_var, default_timeout, max_timeout, problems)
        if problems:
            raise ValueError("core settings: " + "; ".join(problems))
        return cls(rasa_url=rasa_url, timeout=timeout, relay_token=env.get("RELAY_TOKEN") or None)


class CoreClient:
    """Sends citizen messages to the core's relay for one channel and returns its answer.

    Thread-safe (one ``requests`` session per call); async callers wrap it with
    ``asyncio.to_thread``.
    """

    def __init__(self, settings: CoreSettings | None = None):
        self._settings = settings

    @property
    def settings(self) -> CoreSettings:
        """The settings, read from the environment on first use."""
        if self._settings is None:
            self._settings = CoreSettings.from_env()
        return self._settings

    def ready(self, channel: str, timeout: float = 5.0) -> Readiness:
        """Ask the relay of ``channel`` whether the core can answer now (``GET …/ready``).

        The relay reports ready only once Rasa has loaded its model and the action server
        answers; an open port alone is not enough. Never raises.

        Args:
            channel: the relay to ask (``mail``, ``telegram`` …).
            timeout: seconds for connect and read.
        """
        s = self.settings
        headers = {"Accept": "application/json"}
        if s.relay_token:
            headers["X-Relay-Token"] = s.relay_token
        with requests.Session() as session:
            session.trust_env = False
            try:
                res = session.get(f"{s.rasa_url}/webhooks/{channel}/ready", headers=headers, timeout=timeout,
                                  allow_redirects=False)
            except requests.RequestException as exc:
                return Readiness(False, type(exc).__name__)
        try:
            body = res.json()
        except ValueError:
            body = None
        status = body.get("status") if isinstance(body, dict) else None
        if res.status_code == 200 and status == "ready":
            return Readiness(True, "ready")
        return Readiness(False, status[:40] if isinstance(status, str) and status else f"HTTP {res.status_code}")

    def send(self, msg: InboundMessage, timeout: float | None = None) -> list[BotMessage]:
        """Deliver ``msg`` to the relay of ``msg.channel`` and return the bot's messages.

        Args:
            msg: the parsed inbound message.
            timeout: seconds for connect and read (default: the configured timeout).

        Raises:
            CoreUnavailable: unreachable core, timeout, non-200 answer or an unexpected body.
        """
        return [BotMessage.from_rasa(m) for m in self.send_raw(msg, timeout)]

    def send_raw(self, msg: InboundMessage, timeout: float | None = None) -> list[dict[str, Any]]:
        """Like :meth:`send` but returns the core's JSON messages unchanged."""
        s = self.settings
        url = f"{s.rasa_url}/webhooks/{msg.channel}/webhook"
        headers = {"Accept": "application/json"}
        if s.relay_token:
            headers["X-Relay-Token"] = s.relay_token
        metadata = dict(msg.metadata)
        metadata.setdefault("channel", msg.channel)
        if msg.message_id:
            metadata.setdefault("message_id", msg.message_id)
        body: dict[str, Any] = {"sender": msg.sender_id, "message": msg.text, "metadata": metadata}
        with requests.Session() as session:
            session.trust_env = False  # internal service: ignore proxies and .netrc
            try:
                res = session.post(url, json=body, headers=headers, timeout=timeout or s.timeout,
                                   allow_redirects=False)
            except requests.RequestException as exc:
                raise CoreUnavailable(type(exc).__name__) from exc
        if res.status_code != 200:
            raise CoreUnavailable(f"HTTP {res.status_code}")
        try:
            data = res.json()
        except ValueError as exc:
            raise CoreUnavailable("answer is not JSON") from exc
        if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
            raise CoreUnavailable("answer is not a list of messages")
        return data


@dataclass(frozen=True)
class Readiness:
    """The core's answer to a readiness check.

    Attributes:
        ready: the model is loaded and the channel's relay answers, so a message sent now
            gets a real answer.
        reason: why not (``loading``, ``actions_unavailable``, ``HTTP 403``, a connection
            error name…); ``ready`` when it is.
    """

    ready: bool
    reason: str


class Sender(Protocol):
    """Outbound messages that are not a reply to a webhook (e.g. "send me that by SMS").

    Implementations must respect opt-outs; tests use a fake that records calls.
    """

    def send(self, to: str, text: str) -> str:
        """Send ``text`` to the raw address ``to``; return the vendor's message id."""
        ...


def plain_text(messages: Sequence[BotMessage]) -> str:
    """All message texts joined by blank lines (a helper for channels without structure)."""
    return "\n\n".join(m.text.strip() for m in messages if m.text.strip())
