"""The live-agent desk on the app server: the glue between the channels, the core and the agent queue.

* As the channels' :class:`~channels.core.ConversationGate` it sees every citizen message.
  A conversation with an open live session (:mod:`casework.handoff`) still reaches the
  core (which records it and, paused, predicts nothing), is added to the session's
  transcript for the agent, and the citizen is told once that they wait / an agent is on
  it. A wait longer than the desk's ``max_wait_s`` (or past closing time) expires the
  session: the bot resumes and offers to leave a message.
* For the console (``app.extensions["live_agent_desk"]``) it takes, transfers and ends
  sessions, and delivers the agent's replies on the citizen's channel through that
  channel's renderer: web chat by the page's polling (``/chat/api/poll``), SMS through
  the :class:`~channels.core.Sender`, Telegram through the Bot API.
* Ending resumes the conversation through the core's HTTP API (``resume`` +
  ``action_listen`` events, then the ``live_agent_ended`` intent, whose answer asks for
  a rating of the human service) — the same in every process, since it all lives in the
  tracker store and the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import yaml
from sqlalchemy.exc import SQLAlchemyError

from casework.handoff import DeliveryFailed, DeskSettings, HandoffRepository, LiveSession, TakeRefused
from channels.core import LIVE_AGENT_HINT, BotMessage, CoreSettings, CoreUnavailable, InboundMessage, Sender
from common.clock import city_now
from common.identity import hash_sender
from common.sealing import Sealer

log = logging.getLogger(__name__)

WORDING_FILE = Path(__file__).resolve().parent / "live_agent.yml"
SMS_TTL_S = 24 * 3600.0
Forward = Callable[[InboundMessage], list[dict[str, Any]]]


@lru_cache(maxsize=1)
def _wording() -> dict[str, dict[str, str]]:
    return yaml.safe_load(WORDING_FILE.read_text(encoding="utf-8"))


def wording(key: str, channel: str) -> str:
    """The desk's notice ``key`` in the channel's variation (``default`` otherwise)."""
    entry = _wording()[key]
    return entry.get(channel) or entry["default"]


class CoreApi:
    """The core's HTTP API (``rasa run --enable-api --auth-token``) for what no citizen message carries.

    The token is ``token`` or else ``RASA_API_TOKEN`` (``make run`` generates one per run and gives
    it to the core and the app server; the production profile and the manifests set it).
    """

    def __init__(self, settings: CoreSettings | None = None, token: str | None = None):
        self._settings = settings
        self._token = token

    @property
    def settings(self) -> CoreSettings:
        """Where the core is (``RASA_URL``), read on first use."""
        if self._settings is None:
            self._settings = CoreSettings.from_env()
        return self._settings

    def _post(self, path: str, body: Any) -> Any:
        token = self._token if self._token is not None else os.environ.get("RASA_API_TOKEN", "").strip()
        params = {"token": token} if token else None
        with requests.Session() as session:
            session.trust_env = False
            try:
                res = session.post(self.settings.rasa_url + path, json=body, params=params,
                                   timeout=self.settings.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                raise CoreUnavailable(type(exc).__name__) from exc
        if res.status_code != 200:
            raise CoreUnavailable(f"HTTP {res.status_code}")
        return res.json()

    def resume(self, conversation_id: str, intent: str | None) -> list[dict[str, Any]]:
        """Resume a paused conversation and trigger ``intent`` (if any); the bot's messages in answer."""
        path = f"/conversations/{quote(conversation_id, safe='')}"
        self._post(f"{path}/tracker/events", [{"event": "resume"}, {"event": "action", "name": "action_listen"}])
        if intent is None:
            return []
        # output_channel=latest: answered in the conversation's channel's variations (bot/connectors/relay.py)
        data = self._post(f"{path}/trigger_intent?output_channel=latest", {"name": intent, "entities": {}})
        messages = data.get("messages") if isinstance(data, dict) else None
        return [m for m in messages or [] if isinstance(m, dict)]


@dataclass
class Telegram:
    """Sends through the Bot API (``sendMessage``), the same base URL the adapter uses."""

    api_base_url: str
    token: str
    timeout: float = 10.0

    def send(self, chat_id: str, text: str, keyboard: Mapping[str, Any] | None) -> None:
        """One ``sendMessage`` call.

        Raises:
            CoreUnavailable: the Bot API refused or was unreachable (reported to the agent).
        """
        body: dict[str, Any] = {"chat_id": int(chat_id), "text": text}
        if keyboard:
            body["reply_markup"] = dict(keyboard)
        try:
            res = requests.post(f"{self.api_base_url}/bot{self.token}/sendMessage", json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CoreUnavailable(type(exc).__name__) from exc
        if res.status_code != 200:
            raise CoreUnavailable(f"Telegram HTTP {res.status_code}")


@dataclass
class LiveAgentDesk:
    """The conversation gate and the agents' operations (see the module docstring).

    Args:
        repo: the agent queue.
        core: the core's API.
        sealer: seals the raw address replies need (phone number, Telegram chat id).
        sms_sender: outbound SMS (None: SMS sessions cannot be answered, the agent is told).
        telegram: outbound Telegram (None likewise).
        channel_state: where the SMS and Telegram adapters remember offered options.
        settings: the desk's hours and waits.
        clock: the current aware time.
    """

    repo: HandoffRepository
    core: CoreApi
    sealer: Sealer
    sms_sender: Sender | None = None
    telegram: Telegram | None = None
    channel_state: Any = None
    settings: DeskSettings = field(default_factory=DeskSettings.load)
    clock: Callable[[], dt.datetime] = city_now
    sms_max_parts: int = 3

    # --- the gate -------------------------------------------------------------------------
    def relay(self, msg: InboundMessage, forward: Forward) -> list[dict[str, Any]]:
        """Handle one citizen message (see :class:`~channels.core.ConversationGate`)."""
        try:
            session = self.repo.open_session(msg.sender_id)
        except SQLAlchemyError as exc:  # the queue is unreachable: the bot (or its pause) decides alone
            log.warning("live agent: queue unavailable (%s) sender=%s", type(exc).__name__, hash_sender(msg.sender_id))
            return forward(msg)
        if session is None:
            out = forward(msg)
            if any(_hint(m) == "queued" for m in out):
                self._remember_address(msg)
            return out
        if session.state == "waiting" and self._too_late(session):
            return self._expire(session, msg)
        self.repo.add_message(session.id, "citizen", msg.text)
        try:
            out = forward(msg)
        except CoreUnavailable:
            out = []  # the agent has the message; the paused core had nothing to say anyway
        if any(m.get("text") or m.get("buttons") for m in out):
            return out  # the core answered: the pause was lifted elsewhere
        if self.repo.claim_notice(session.id, session.state):
            return [{"text": wording(session.state, msg.channel), "custom": {LIVE_AGENT_HINT: session.state}}]
        return [{"custom": {LIVE_AGENT_HINT: "relayed"}}]

    def _too_late(self, session: LiveSession) -> bool:
        now = self.clock()
        queued = session.queued_at if session.queued_at.tzinfo else session.queued_at.replace(tzinfo=dt.UTC)
        return (now - queued).total_seconds() > self.settings.max_wait_s or not self.settings.is_open(now)

    def _expire(self, session: LiveSession, msg: InboundMessage) -> list[dict[str, Any]]:
        self.repo.add_message(session.id, "citizen", msg.text)
        if not self.repo.expire(session.id, "timed_out"):
            return [{"custom": {LIVE_AGENT_HINT: "relayed"}}]  # taken meanwhile; the next message goes through
        log.info("live agent: session %s expired unanswered (%s)", session.id, session.channel)
        try:
            return [*self.core.resume(session.conversation_id, "live_agent_timeout"),
                    {"custom": {LIVE_AGENT_HINT: "ended"}}]
        except CoreUnavailable:
            return [{"custom": {LIVE_AGENT_HINT: "ended"}}]

    def _remember_address(self, msg: InboundMessage) -> None:
        address = str(msg.metadata.get("phone") or msg.metadata.get("chat_id") or "")
        session = self.repo.open_session(msg.sender_id)
        if session is not None and address:
            self.repo.set_address(session.id, self.sealer.seal(address))

    def expire_overdue(self) -> int:
        """Close waiting sessions nobody took in time; each citizen is offered to leave a message.

        Called whenever an agent's queue page polls (the gate does the same on the citizen's
        next message), so a citizen who stopped writing is not left waiting in a paused
        conversation. Returns how many sessions it closed.
        """
        closed = 0
        for row in self.repo.queue():
            if row.state != "waiting":
                continue
            session = self.repo.get(row.id)
            if session is None or not self._too_late(session) or not self.repo.expire(session.id, "timed_out"):
                continue
            closed += 1
            try:
                messages = self.core.resume(session.conversation_id, "live_agent_timeout")
                self._deliver(session, [*messages, {"custom": {LIVE_AGENT_HINT: "ended"}}], author="bot", agent="")
            except (CoreUnavailable, DeliveryFailed) as exc:
                log.warning("live agent: session %s expired, the citizen was not told (%s)", session.id, exc)
        return closed

    # --- the agents -----------------------------------------------------------------------
    def take(self, session_id: int, agent: str) -> LiveSession:
        """Take a waiting session and tell the citizen an agent is on it.

        Raises:
            TakeRefused: someone else was quicker, or it is no longer waiting.
        """
        session = self.repo.take(session_id, agent)
        if self.repo.claim_notice(session.id, "active"):
            self._deliver(session, [{"text": wording("active", session.channel),
                                     "custom": {LIVE_AGENT_HINT: "active"}}], author="bot", agent=agent)
        return session

    def reply(self, session_id: int, agent: str, text: str) -> None:
        """Send the agent's reply to the citizen on their channel.

        Raises:
            TakeRefused: the agent does not own the session.
            DeliveryFailed: the channel could not send it.
        """
        session = self._owned(session_id, agent)
        self._deliver(session, [{"text": text, "custom": {LIVE_AGENT_HINT: "agent"}}], author="agent", agent=agent)

    def transfer(self, session_id: int, agent: str, to_agent: str) -> bool:
        """Give an owned session to another agent."""
        return self.repo.transfer(session_id, agent, to_agent)

    def end(self, session_id: int, agent: str, *, back_to_bot: bool = False) -> None:
        """End the agent's session: the bot resumes (asking for a rating unless handed back).

        Raises:
            TakeRefused: the agent does not own the session.
        """
        session = self._owned(session_id, agent)
        if not self.repo.finish(session_id, agent, "returned" if back_to_bot else "ended"):
            raise TakeRefused(session_id)
        messages: list[dict[str, Any]] = []
        try:
            if back_to_bot:  # no rating question: the desk's own notice says the bot is back
                self.core.resume(session.conversation_id, None)
                messages = [{"text": wording("returned", session.channel)}]
            else:
                messages = self.core.resume(session.conversation_id, "live_agent_ended")
        except CoreUnavailable as exc:
            log.warning("live agent: the core did not resume session %s (%s)", session_id, exc)
        self._deliver(session, [*messages, {"custom": {LIVE_AGENT_HINT: "ended"}}], author="bot", agent=agent)

    def _owned(self, session_id: int, agent: str) -> LiveSession:
        session = self.repo.get(session_id)
        if session is None or session.state != "active" or self.repo.owner(session_id) != agent:
            raise TakeRefused(session_id)
        return session

    # --- delivery -------------------------------------------------------------------------
    def pending_webchat(self, conversation_id: str) -> list[dict[str, Any]]:
        """The web chat page's poll: messages for the citizen not fetched yet."""
        return [dict(m.payload) or {"text": m.text} for m in self.repo.take_undelivered(conversation_id)]

    def _deliver(self, session: LiveSession, messages: list[dict[str, Any]], *, author: str, agent: str) -> None:
        visible = [m for m in messages if m.get("text") or m.get("buttons")]
        text = "\n".join(str(m.get("text") or "") for m in visible)
        if session.channel == "webchat":
            for m in messages:
                self.repo.add_message(session.id, author, str(m.get("text") or ""), agent=agent, payload=m)
            return
        if not visible:
            return
        address = self.sealer.unseal(session.address_sealed) if session.address_sealed else ""
        bot = [BotMessage.from_rasa(m) for m in visible]
        if session.channel == "sms":
            self._send_sms(session, address, bot)
        elif session.channel == "telegram":
            self._send_telegram(session, address, bot)
        else:
            raise DeliveryFailed(session.channel)
        self.repo.add_message(session.id, author, text, agent=agent, payload={}, delivered=True)

    def _send_sms(self, session: LiveSession, phone: str, messages: list[BotMessage]) -> None:
        from channels.options import remember_options
        from channels.sms import render

        if self.sms_sender is None or not phone:
            raise DeliveryFailed("sms")
        page = render.compose(messages, self.sms_max_parts)
        try:
            self.sms_sender.send(phone, page.text)
        except Exception as exc:  # the vendor's errors vary; the agent is told, nothing is lost
            raise DeliveryFailed(f"sms: {type(exc).__name__}") from exc
        if self.channel_state is not None:
            remember_options(self.channel_state, "sms", session.conversation_id, page.options, SMS_TTL_S)

    def _send_telegram(self, session: LiveSession, chat_id: str, messages: list[BotMessage]) -> None:
        from channels.telegram.adapter import OPTIONS_TTL_S
        from channels.telegram.render import render

        if self.telegram is None or not chat_id:
            raise DeliveryFailed("telegram")
        for out in render(messages):
            if out.options is not None and self.channel_state is not None:
                self.channel_state.put_note("telegram", session.conversation_id, out.options.note_key,
                                            out.options.to_note(), OPTIONS_TTL_S)
            try:
                self.telegram.send(chat_id, out.text, out.keyboard.to_dict() if out.keyboard else None)
            except CoreUnavailable as exc:
                raise DeliveryFailed(f"telegram: {exc}") from exc


def _hint(message: Mapping[str, Any]) -> str | None:
    custom = message.get("custom")
    return custom.get(LIVE_AGENT_HINT) if isinstance(custom, dict) else None
