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
from collections.abc import Callable, Mapping, Sequence
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
        key: the number that picks it where options are numbered (SMS, mail, keypad);
            "" = its position. A closed question's hint may key options otherwise (a
            rating's "5" is 非常满意) or leave one unnumbered (``None`` in the hint: "跳过").
    """

    title: str
    payload: str
    key: str = ""


# What a bot question expects, as its structured hint says (``{"expect": ...}``).
EXPECT_YES_NO = "yes_no"
EXPECT_CHOICE = "choice"
EXPECT_DIGITS = "digits"
EXPECT_PHONE = "phone"
EXPECTS = frozenset({EXPECT_YES_NO, EXPECT_CHOICE, EXPECT_DIGITS, EXPECT_PHONE})
NO_KEY = "-"  # an option that is offered but not numbered


@dataclass(frozen=True)
class Hint:
    """What the bot's question expects.

    Read from the structured hint the core sends with the question (a ``json_message`` /
    custom payload), never from its wording.

    Attributes:
        expect: ``yes_no`` or ``choice`` (closed questions, with ``options``), ``digits``
            (a number typed on a keypad) or ``phone`` (a phone number).
        length: how many digits are expected (None: any).
        prefix: letters the typed digits follow (``YY`` of a booking reference).
        allow_x: the last character may be X (ID numbers), typed as ``*`` on a keypad.
        options: the options of a closed question, with the keys that pick them.
    """

    expect: str
    length: int | None = None
    prefix: str = ""
    allow_x: bool = False
    options: tuple[Button, ...] = ()

    @property
    def wants_number(self) -> bool:
        """Whether the answer is a number typed digit by digit."""
        return self.expect in (EXPECT_DIGITS, EXPECT_PHONE)

    @classmethod
    def from_custom(cls, custom: Mapping[str, Any] | None) -> Hint | None:
        """Parse a custom payload; None when it is not a hint (or a malformed one)."""
        if not isinstance(custom, Mapping) or custom.get("expect") not in EXPECTS:
            return None
        raw_length = custom.get("length")
        length = raw_length if isinstance(raw_length, int) and 0 < raw_length <= 32 else None
        raw_prefix = custom.get("prefix")
        prefix = raw_prefix if isinstance(raw_prefix, str) else ""
        options = []
        for i, raw in enumerate(custom.get("options") or (), start=1):
            payload = raw.get("payload") if isinstance(raw, Mapping) else None
            if isinstance(payload, str) and payload:
                raw_title = raw.get("title")
                title = raw_title if isinstance(raw_title, str) and raw_title else payload
                key = raw.get("key", str(i))
                options.append(Button(title=title, payload=payload,
                                      key=str(key) if isinstance(key, (str, int)) and str(key) else NO_KEY))
        return cls(expect=str(custom["expect"]), length=length, prefix=prefix[:8],
                   allow_x=custom.get("allow_x") is True, options=tuple(options))


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

    @property
    def hint(self) -> Hint | None:
        """The structured hint this message carries, if any."""
        return Hint.from_custom(self.custom)


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
    """What a channel can show; its renderer reads these and degrades everything else.

    Attributes:
        max_chars: longest single message the channel accepts (None = no practical limit);
            longer replies are split (Telegram) or budgeted in parts (SMS, by segments).
        buttons: native buttons (web chat, Telegram inline keyboards); without them options
            are numbered by their keys (SMS, mail) or spoken with keypad digits (voice).
        links: URLs are useful (not on voice, where they are removed).
        speech: replies are spoken (voice): short sentences, options read out.
        rich_text: an HTML (or Markdown) rendering is sent beside the text (mail).
    """

    max_chars: int | None = None
    buttons: bool = False
    links: bool = True
    speech: bool = False
    rich_text: bool = False


def hint_of(messages: Sequence[BotMessage]) -> Hint | None:
    """The hint of the core's answer: the last structured hint among its messages."""
    for message in reversed(messages):
        hint = message.hint
        if hint is not None:
            return hint
    return None


def keyed_options(messages: Sequence[BotMessage], limit: int) -> tuple[Button, ...]:
    """The options of the answer as a channel without buttons numbers them.

    A closed question's hint gives its options and their keys (a rating's 5 is 非常满意);
    otherwise the buttons of all messages are numbered 1..n in order. At most ``limit``
    numbered options; unnumbered ones (key :data:`NO_KEY`) follow them.
    """
    hint = hint_of(messages)
    if hint is not None and hint.options:
        numbered = [b for b in hint.options if b.key != NO_KEY][:limit]
        return tuple(numbered) + tuple(b for b in hint.options if b.key == NO_KEY)
    buttons = [b for m in messages for b in m.buttons][:limit]
    return tuple(Button(b.title, b.payload, b.key or str(i)) for i, b in enumerate(buttons, start=1))


def option_for(options: Sequence[Mapping[str, str]] | Sequence[Button], key: str) -> str | None:
    """The payload of the option picked by ``key`` (a typed or pressed number), or None."""
    for option in options:
        okey, payload = (option.key, option.payload) if isinstance(option, Button) else \
            (str(option.get("key") or ""), str(option.get("payload") or ""))
        if okey == key and okey != NO_KEY and payload:
            return payload
    return None


def required_setting(env: Mapping[str, str], name: str, problems: list[str], pattern: re.Pattern[str] | None = None,
                     expected: str = "") -> str:
    """A required variable, stripped; a missing or malformed value is reported (fail closed).

    Args:
        env: the variables to read.
        name: the variable.
        problems: where a message naming the variable is appended.
        pattern: the form the value must have (``fullmatch``), if any.
        expected: how that form is described in the message.
    """
    value = (env.get(name) or "").strip()
    if not value:
        problems.append(f"{name} is not set")
    elif pattern is not None and not pattern.fullmatch(value):
        problems.append(f"{name} {expected or 'is malformed'}")
    return value


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


#: The ``custom`` key of the hints the live-agent desk adds to a conversation's messages:
#: ``queued`` (the bot queued it), ``relayed`` (the message went to the agent, nothing to show),
#: ``waiting`` / ``active`` (notices), ``ended`` (the agent ended; the bot is back).
LIVE_AGENT_HINT = "live_agent"


class ConversationGate(Protocol):
    """Sees every citizen message before the core does (the composition root provides one).

    The live-agent desk uses it to pass messages of conversations an agent owns to the
    agent; channels only call it and render what it returns, like the core's answer.
    """

    def relay(self, msg: InboundMessage,
              forward: Callable[[InboundMessage], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Handle ``msg``; ``forward`` sends it to the core and returns the core's JSON messages."""
        ...


class GatedCore(CoreClient):
    """A :class:`CoreClient` whose messages pass through a :class:`ConversationGate` first."""

    def __init__(self, inner: CoreClient, gate: ConversationGate):
        super().__init__(None)
        self.inner = inner
        self.gate = gate

    def __getattr__(self, name: str) -> Any:
        # Anything else a channel asks of its client is the wrapped client's.
        return getattr(self.inner, name)

    @property
    def settings(self) -> CoreSettings:
        """The wrapped client's settings."""
        return self.inner.settings

    def ready(self, channel: str, timeout: float = 5.0) -> Readiness:
        """The wrapped client's readiness."""
        return self.inner.ready(channel, timeout)

    def send_raw(self, msg: InboundMessage, timeout: float | None = None) -> list[dict[str, Any]]:
        """Let the gate decide, forwarding to the wrapped client."""
        return self.gate.relay(msg, lambda m: self.inner.send_raw(m, timeout))
