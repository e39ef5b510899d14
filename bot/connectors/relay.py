"""Relay input channels: one per citizen channel, so the core knows where a message came from.

Our channel adapters (web chat, SMS, hotline IVR, mail, Telegram, WeChat) live in the app
server; each posts ``{"sender", "message", "metadata"}`` to its relay, e.g.
``POST /webhooks/sms/webhook``, and gets the bot's messages back as JSON (like Rasa's
REST channel). The output channel carries the channel's name, so the domain's
per-channel response variations (``channel: sms``, ``channel: voice`` …) apply, and
actions read the channel from ``tracker.get_latest_input_channel()``.

When ``RELAY_TOKEN`` is set, requests must carry it in ``X-Relay-Token`` (403 otherwise).
Without it only loopback callers are served (fail closed: a caller from any other address
gets 403), and ``python -m bot.serve`` refuses to start the core beyond loopback without it.
These relays are the only input channels (``bot/credentials.yml`` has no stock ``rest:``).

``GET /webhooks/<channel>/ready`` tells the pull workers (mailbox, Telegram long polling)
whether a message sent now gets a real answer: 200 ``{"status": "ready"}`` only once the
agent has loaded its model and the action server answers its ``/health``; 503 with
``loading`` or ``actions_unavailable`` otherwise (Rasa keeps serving, agent-less, when a
model fails to load or is being replaced).
"""

from __future__ import annotations

import asyncio
import hmac
import os
from typing import Any, Awaitable, Callable, Dict, Optional, Text

import aiohttp
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

MAX_MESSAGE_CHARS = 5000
ACTIONS_HEALTH_TIMEOUT_S = 2.0


_LOOPBACK_PEERS = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


def _token_ok(request: Request) -> bool:
    token = os.environ.get("RELAY_TOKEN", "").strip()
    if not token:  # no token configured: loopback callers only (the embedded profile)
        return (request.ip or "") in _LOOPBACK_PEERS
    offered = request.headers.get("X-Relay-Token", "")
    return hmac.compare_digest(offered.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass"))


async def _actions_answer(agent: Any) -> bool:
    """True when the agent's action server answers ``GET /health`` (or none is configured)."""
    endpoint = getattr(agent, "action_endpoint", None)
    url = getattr(endpoint, "url", None)
    if not isinstance(url, str) or not url.rstrip("/").endswith("/webhook"):
        return True  # no action server, or one whose health route we do not know
    health = url.rstrip("/")[: -len("/webhook")] + "/health"
    try:
        timeout = aiohttp.ClientTimeout(total=ACTIONS_HEALTH_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(health) as res:
            return res.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return False


class _RelayOutput(CollectingOutputChannel):
    channel_name = "relay"

    @classmethod
    def name(cls) -> Text:
        return cls.channel_name


class RelayInput(RestInput):
    """Base relay: a JSON webhook returning the collected bot messages."""

    channel_name = "relay"

    @classmethod
    def name(cls) -> Text:
        return cls.channel_name

    def _output(self) -> CollectingOutputChannel:
        out_cls = type(f"{self.channel_name.title()}Output", (_RelayOutput,), {"channel_name": self.channel_name})
        return out_cls()

    def get_output_channel(self) -> Optional[CollectingOutputChannel]:
        """A collector named after this channel.

        So ``?output_channel=latest`` on the core's API (the live-agent desk resuming a
        conversation) answers in this channel's response variations.
        """
        return self._output()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint(f"relay_{self.channel_name}", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "channel": self.channel_name})

        @bp.route("/ready", methods=["GET"])
        async def ready(request: Request) -> HTTPResponse:
            if not _token_ok(request):
                return response.json({"status": "forbidden"}, status=403)
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or not agent.is_ready():
                return response.json({"status": "loading", "channel": self.channel_name}, status=503)
            if not await _actions_answer(agent):
                return response.json({"status": "actions_unavailable", "channel": self.channel_name}, status=503)
            return response.json({"status": "ready", "channel": self.channel_name})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not _token_ok(request):
                return response.json({"error": "forbidden"}, status=403)
            body = request.json if isinstance(request.json, dict) else {}
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not sender or not isinstance(text, str):
                return response.json({"error": "sender and message are required"}, status=400)
            raw_metadata = body.get("metadata")
            metadata: Optional[Dict[Text, Any]] = raw_metadata if isinstance(raw_metadata, dict) else None
            collector = self._output()
            await on_new_message(UserMessage(text[:MAX_MESSAGE_CHARS], collector, sender,
                                             input_channel=self.channel_name, metadata=metadata))
            return response.json(collector.messages)

        return bp


class WebchatInput(RelayInput):
    """The local web chat page."""

    channel_name = "webchat"


class SmsInput(RelayInput):
    """SMS (Twilio adapter in the app server)."""

    channel_name = "sms"


class VoiceInput(RelayInput):
    """Hotline IVR (Twilio adapter in the app server)."""

    channel_name = "voice"


class MailInput(RelayInput):
    """Citizen mailbox worker."""

    channel_name = "mail"


class TelegramInput(RelayInput):
    """Telegram adapter."""

    channel_name = "telegram"


class WechatInput(RelayInput):
    """WeChat official account (webhook in the app server, channels/wechat)."""

    channel_name = "wechat"
