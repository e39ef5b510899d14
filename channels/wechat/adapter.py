"""WeChat webhook glue: verify → dedupe → parse → (channel answer | core) → render → passive reply or 客服消息.

``GET /channels/wechat/webhook`` answers WeChat's URL check (``echostr``) and ``POST``
receives messages; both are verified first (:mod:`channels.wechat.verify`: 403 and
nothing processed when the signature, freshness or safe-mode decryption fails).

WeChat waits 5 seconds for a passive reply and retries up to three times. Every message is
claimed by its dedupe key in the shared :class:`~channels.state.ChannelState`, so a retry
is never processed twice: while the first is in progress a retry gets ``success``, after it
the stored passive reply. The core is asked on a worker thread; the webhook waits
``WECHAT_REPLY_BUDGET`` seconds (default 4): an answer in time goes back as the passive
reply (one message), otherwise the webhook answers ``success`` at once and the worker
delivers the answer through the customer-service message API when it arrives — exactly one
of the two, decided under a lock. Answers longer than one message go through the API too.
Without ``WECHAT_APP_SECRET`` there is no API: a late answer gets the channel's apology
instead and a long one is cut to its first message.

What the channel answers itself (wording in ``texts.yml``): images, locations, links and
other media are acknowledged, a voice message without WeChat's recognition result gets a
request to type, an empty text or an out-of-range option number a hint. ``subscribe``
asks the core for the greeting (``/greet``) and clears an opt-out; ``unsubscribe``
records one (no further customer-service messages). Menu clicks map to the payloads of
``menu.yml``; a bare digit picks one of the numbered options of the last answer
(:mod:`channels.options`, as on SMS).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import Blueprint, Flask, Response, request

from channels.core import CoreClient, CoreUnavailable, Sender
from channels.options import bare_number, option_for, recall_options, remember_options
from channels.state import ChannelState, Claim
from channels.wechat import render, texts
from channels.wechat.menu import Menu, load_menu
from channels.wechat.parse import CHANNEL, Kind, WeChatInbound, parse_xml
from channels.wechat.verify import Rejected, WebhookVerifier, WeChatSettings

log = logging.getLogger(__name__)

GREET_PAYLOAD = "/greet"
OPTIONS_TTL_S = 24 * 3600.0
MAX_BODY_BYTES = 64 * 1024
WORKERS = 8
EXTENSION = "wechat_channel"
ACKNOWLEDGEMENTS = {Kind.IMAGE: "image_received", Kind.LOCATION: "location_received", Kind.LINK: "link_received",
                    Kind.OTHER: "unsupported"}


@dataclass
class _Hand:
    """Who delivers one answer: the waiting webhook (passive) or the worker (API); decided once under the lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: threading.Event = field(default_factory=threading.Event)
    webhook_gone: bool = False
    passive: str | None = None


class WeChatChannel:
    """Handles verified, parsed WeChat messages; independent of Flask.

    Args:
        state: shared dedupe claims, notes (options, the access token) and opt-outs.
        core: client of the core's ``wechat`` relay.
        settings: reply budget and core timeout.
        sender: customer-service messages (None without ``WECHAT_APP_SECRET``).
        menu: click key → payload (default: the committed ``menu.yml``).
    """

    def __init__(self, state: ChannelState, core: CoreClient, settings: WeChatSettings, sender: Sender | None = None,
                 menu: Menu | None = None):
        self.state = state
        self.core = core
        self.settings = settings
        self.sender = sender
        self.menu = menu or load_menu()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The workers that ask the core, started on first use."""
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="wechat")
            return self._executor

    def shutdown(self) -> None:
        """Wait for answers still being delivered and stop the workers (tests, shutdown)."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    # -- one message ------------------------------------------------------------------------
    def receive(self, msg: WeChatInbound) -> str | None:
        """Process one message; return the passive reply text, or None to answer ``success``."""
        if msg.silent:
            return None
        claim = self.state.begin(CHANNEL, msg.dedupe_key)
        if claim.claim is Claim.DONE:
            log.info("wechat: duplicate msg=%s (done) sender=%s", msg.dedupe_key, msg.sender_hash)
            stored = json.loads(claim.reply) if claim.reply else {}
            return stored.get("passive") if isinstance(stored, dict) else None
        if claim.claim is Claim.IN_PROGRESS:
            log.info("wechat: duplicate msg=%s (in progress) sender=%s", msg.dedupe_key, msg.sender_hash)
            return None
        try:
            local, for_core = self._prepare(msg)
        except BaseException:
            self.state.release(CHANNEL, msg.dedupe_key)
            raise
        if for_core is None:
            self.state.finish(CHANNEL, msg.dedupe_key, json.dumps({"passive": local}, ensure_ascii=False))
            log.info("wechat: msg=%s sender=%s kind=%s answered by the channel", msg.dedupe_key, msg.sender_hash,
                     msg.kind.value)
            return local
        return self._converse(msg, for_core)

    def _prepare(self, msg: WeChatInbound) -> tuple[str | None, str | None]:
        """(the channel's own reply, None) or (None, the text for the core)."""
        if msg.kind is Kind.UNSUBSCRIBE:
            self.state.set_opt_out(CHANNEL, msg.sender_hash, True)
            return None, None
        if msg.kind is Kind.SUBSCRIBE:
            self.state.set_opt_out(CHANNEL, msg.sender_hash, False)
            return None, GREET_PAYLOAD
        if msg.kind is Kind.CLICK:
            payload = self.menu.payload_for(msg.event_key)
            return (None, payload) if payload else (texts.text("menu_unknown"), None)
        if msg.kind is Kind.VOICE and not msg.text:
            return texts.text("voice_not_recognised"), None
        if msg.kind in ACKNOWLEDGEMENTS:
            return texts.text(ACKNOWLEDGEMENTS[msg.kind]), None
        if not msg.text:
            return texts.text("empty_text"), None
        number = bare_number(msg.text)
        if number is not None:
            options = recall_options(self.state, CHANNEL, msg.sender_id)
            if options:
                chosen = option_for(options, str(number))
                if chosen is None:
                    return texts.text("option_out_of_range", keys="、".join(o["key"] for o in options)), None
                return None, chosen
        return None, msg.text

    def _converse(self, msg: WeChatInbound, text: str) -> str | None:
        started = time.monotonic()
        hand = _Hand()
        self.executor.submit(self._work, msg, text, hand, started)
        hand.ready.wait(self.settings.reply_budget)
        with hand.lock:
            if hand.ready.is_set():
                return hand.passive
            hand.webhook_gone = True
        if self.sender is None:  # nobody can deliver it later: say so now
            return texts.text("unavailable")
        return None

    def _work(self, msg: WeChatInbound, text: str, hand: _Hand, started: float) -> None:
        """Ask the core, then hand the answer to the waiting webhook or deliver it through the API."""
        failed = True
        try:
            messages = self.core.send(msg.to_core(text), timeout=self.settings.core_timeout)
            answer = render.compose(messages)
            remember_options(self.state, CHANNEL, msg.sender_id, answer.options, OPTIONS_TTL_S)
            parts = answer.parts or (texts.text("no_reply"),)
            failed = False
        except CoreUnavailable as exc:
            log.warning("wechat: core unavailable (%s) msg=%s sender=%s", exc, msg.dedupe_key, msg.sender_hash)
            parts = (texts.text("unavailable"),)
        except Exception:
            log.exception("wechat: failed msg=%s sender=%s", msg.dedupe_key, msg.sender_hash)
            parts = (texts.text("unavailable"),)
        with hand.lock:
            passive = not hand.webhook_gone and (len(parts) == 1 or self.sender is None)
            if passive:
                hand.passive = parts[0]
                if len(parts) > 1:
                    log.warning("wechat: answer cut to its first message (no WECHAT_APP_SECRET) msg=%s",
                                msg.dedupe_key)
            hand.ready.set()
        if not passive:
            self._deliver(msg, parts)
        if failed:
            self.state.release(CHANNEL, msg.dedupe_key)
        else:
            self.state.finish(CHANNEL, msg.dedupe_key,
                              json.dumps({"passive": parts[0] if passive else None}, ensure_ascii=False))
        log.info("wechat: msg=%s sender=%s kind=%s reply=%s parts=%d in %.0f ms", msg.dedupe_key, msg.sender_hash,
                 msg.kind.value, "passive" if passive else "customer-service", len(parts),
                 (time.monotonic() - started) * 1000)

    def _deliver(self, msg: WeChatInbound, parts: tuple[str, ...]) -> None:
        if self.sender is None:
            log.warning("wechat: late answer dropped (no WECHAT_APP_SECRET) msg=%s sender=%s", msg.dedupe_key,
                        msg.sender_hash)
            return
        try:
            for part in parts:
                self.sender.send(msg.openid, part)
        except Exception as exc:  # refused, outside the 48-hour window, WeChat down: nothing more we can do
            log.error("wechat: customer-service delivery failed (%s: %s) msg=%s sender=%s", type(exc).__name__,
                      exc, msg.dedupe_key, msg.sender_hash)


def create_blueprint(settings: WeChatSettings, channel: WeChatChannel,
                     clock: Callable[[], float] = time.time) -> Blueprint:
    """The ``/channels/wechat`` blueprint.

    Args:
        settings: token, app id, AES key.
        channel: the message handler.
        clock: seconds since the epoch (signature freshness, reply timestamps).
    """
    verifier = WebhookVerifier(settings, clock)
    bp = Blueprint("wechat", __name__, url_prefix="/channels/wechat")

    def forbidden(reason: str) -> Response:
        log.warning("wechat: rejected webhook (%s) from %s", reason, request.remote_addr)
        return Response("forbidden", status=403, mimetype="text/plain")

    @bp.get("/webhook")
    def url_check() -> Response:
        """WeChat's server-address check: echo ``echostr`` when the signature is valid."""
        try:
            verifier.check(request.args)
        except Rejected as exc:
            return forbidden(str(exc))
        return Response(request.args.get("echostr", ""), mimetype="text/plain")

    @bp.post("/webhook")
    def webhook() -> Response:
        """One message or event."""
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return Response("too large", status=413, mimetype="text/plain")
        try:
            xml = verifier.open(request.args, request.get_data(cache=False))
        except Rejected as exc:
            return forbidden(str(exc))
        msg = parse_xml(xml)
        if msg is None:
            log.warning("wechat: webhook body is not a usable message")
            return Response("bad request", status=400, mimetype="text/plain")
        text = channel.receive(msg)
        if text is None:
            return Response("success", mimetype="text/plain")
        reply = render.passive_reply(msg.openid, msg.account, text, int(clock()))
        return Response(verifier.seal(reply, request.args), mimetype="application/xml")

    return bp


def init_app(app: Flask, settings: WeChatSettings, *, state: ChannelState, core: CoreClient,
             sender: Sender | None = None) -> WeChatChannel:
    """Mount the webhook on ``app``; the channel is kept as ``app.extensions["wechat_channel"]``.

    Args:
        app: the app server.
        settings: the WeChat settings.
        state: the app's shared channel state.
        core: the core client.
        sender: customer-service messages (default: over the API when ``WECHAT_APP_SECRET`` is set).
    """
    if sender is None and settings.app_secret:
        from channels.wechat.api import WeChatApi, WeChatSender

        sender = WeChatSender(WeChatApi(settings, state), state)
    if sender is None:
        log.warning("wechat: customer-service messages disabled (WECHAT_APP_SECRET not set): "
                    "answers later than %.1f s get an apology", settings.reply_budget)
    channel = WeChatChannel(state, core, settings, sender)
    app.extensions[EXTENSION] = channel
    app.register_blueprint(create_blueprint(settings, channel))
    return channel
