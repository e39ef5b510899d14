"""SMS webhook glue: verify → dedupe → parse → (channel keyword | core) → render → TwiML.

``POST /channels/sms/webhook`` answers every verified message with TwiML inside Twilio's
15-second window: the core gets ``SMS_CORE_TIMEOUT`` seconds (default 10); when it is
slow or down the citizen gets a short apology and the dedupe claim is released so a
retry is processed. A duplicate ``MessageSid`` gets the stored reply and is not
processed again (:class:`~channels.state.ChannelState`, shared by all workers).

Notes kept per conversation (``sms``, sender id): ``options`` (key and payload of each
numbered option of the last reply, for a bare digit; keys come from the closed question's
hint, so "5" after the rating question is 非常满意) and ``more`` (the rest of a cut reply).
Other replies ("是", "满意", "5分") go to the core, which reads them against its question.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Blueprint, Response, request

from channels.core import NO_KEY, Button, CoreClient, CoreUnavailable, seconds_setting
from channels.options import option_for, recall_options, remember_options
from channels.sms import render, texts
from channels.sms.parse import CHANNEL, Intent, SmsInbound, classify, parse_webhook
from channels.state import ChannelState, Claim
from channels.twilio_common.verify import SIGNATURE_HEADER, TwilioSettings, WebhookVerifier

log = logging.getLogger(__name__)

DEFAULT_MAX_PARTS = 3
DEFAULT_CORE_TIMEOUT = 10.0
# Twilio waits 15 s for the TwiML; leave room for our own work.
MAX_CORE_TIMEOUT = 13.0
NOTE_TTL_S = 3600.0
TWIML_MIMETYPE = "text/xml"


@dataclass(frozen=True)
class SmsSettings:
    """Tunables of the SMS channel (``SMS_MAX_PARTS``, ``SMS_CORE_TIMEOUT``)."""

    max_parts: int = DEFAULT_MAX_PARTS
    core_timeout: float = DEFAULT_CORE_TIMEOUT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmsSettings:
        """Read the settings.

        Raises:
            ValueError: naming every unusable value.
        """
        env = os.environ if env is None else env
        problems: list[str] = []
        max_parts = DEFAULT_MAX_PARTS
        raw = (env.get("SMS_MAX_PARTS") or "").strip()
        if raw:
            max_parts = int(raw) if raw.isdigit() else 0
            if not 1 <= max_parts <= 10:
                problems.append(f"SMS_MAX_PARTS must be an integer 1..10, got {raw!r}")
        timeout = seconds_setting(env, "SMS_CORE_TIMEOUT", DEFAULT_CORE_TIMEOUT, MAX_CORE_TIMEOUT, problems)
        if problems:
            raise ValueError("sms settings: " + "; ".join(problems))
        return cls(max_parts=max_parts, core_timeout=timeout)


class SmsChannel:
    """Handles verified SMS webhooks; independent of Flask so it can be tested and reused.

    Args:
        state: durable dedupe, notes and opt-outs.
        core: client of the core's ``sms`` relay.
        settings: budget and timeout.
    """

    def __init__(self, state: ChannelState, core: CoreClient, settings: SmsSettings):
        self.state = state
        self.core = core
        self.settings = settings

    def handle(self, sms: SmsInbound) -> str:
        """Process one new message and return the TwiML reply.

        Raises:
            CoreUnavailable: the core did not answer in time (the caller releases the claim).
        """
        intent, number = classify(sms.body)
        conv = sms.sender_id
        if intent is Intent.EMPTY:
            return render.twiml(texts.EMPTY_BODY)
        if intent is Intent.OPT_OUT:
            self.state.set_opt_out(CHANNEL, sms.number_hash, True)
            return render.twiml(texts.OPTED_OUT)
        if intent is Intent.OPT_IN:
            self.state.set_opt_out(CHANNEL, sms.number_hash, False)
            return render.twiml(texts.OPTED_IN)
        if intent is Intent.HELP:
            return render.twiml(texts.HELP.format(hotline=texts.HOTLINE))
        options = recall_options(self.state, CHANNEL, conv)
        if intent is Intent.MORE or (intent is Intent.DIGIT and number == 1 and not options
                                     and self.state.get_note(CHANNEL, conv, "more")):
            return self._more(conv, options)
        text = sms.body
        if intent is Intent.DIGIT and options:
            chosen = option_for(options, str(number))
            if chosen is None:
                keys = "、".join(o["key"] for o in options if o.get("key") not in (None, "", NO_KEY))
                return render.twiml(texts.OPTION_OUT_OF_RANGE.format(keys=keys))
            text = chosen
        messages = self.core.send(sms.to_core(text), timeout=self.settings.core_timeout)
        page = render.compose(messages, self.settings.max_parts)
        self._remember(conv, page.options, page.rest)
        return render.twiml(page.text)

    def _more(self, conv: str, options: list[dict[str, str]]) -> str:
        rest = self.state.get_note(CHANNEL, conv, "more")
        if not rest:
            return render.twiml(texts.NO_MORE)
        page = render.paginate(rest, (), self.settings.max_parts, more_by_digit=not options)
        if page.rest:
            self.state.put_note(CHANNEL, conv, "more", page.rest, ttl_s=NOTE_TTL_S)
        else:
            self.state.delete_note(CHANNEL, conv, "more")
        return render.twiml(page.text)

    def _remember(self, conv: str, options: tuple[Button, ...], rest: str) -> None:
        remember_options(self.state, CHANNEL, conv, options, NOTE_TTL_S)
        if rest:
            self.state.put_note(CHANNEL, conv, "more", rest, ttl_s=NOTE_TTL_S)
        else:
            self.state.delete_note(CHANNEL, conv, "more")


def create_blueprint(twilio: TwilioSettings, *, state: ChannelState, core: CoreClient,
                     settings: SmsSettings | None = None) -> Blueprint:
    """The ``/channels/sms`` blueprint.

    Args:
        twilio: auth token and public URL (signature verification).
        state: shared channel state.
        core: core client.
        settings: SMS tunables (default: from the environment; a bad value raises at start-up).
    """
    verifier = WebhookVerifier(twilio.auth_token, twilio.public_base_url)
    channel = SmsChannel(state, core, settings or SmsSettings.from_env())
    bp = Blueprint("sms", __name__, url_prefix="/channels/sms")

    def xml(body: str, status: int = 200) -> Response:
        return Response(body, status=status, mimetype=TWIML_MIMETYPE)

    @bp.post("/webhook")
    def webhook() -> Response:
        """Twilio's incoming-message webhook."""
        if not verifier.is_valid(request.path, request.query_string.decode("latin-1"), request.form,
                                 request.headers.get(SIGNATURE_HEADER)):
            log.warning("sms: rejected webhook with a missing or invalid signature")
            return Response("forbidden", status=403, mimetype="text/plain")
        sms = parse_webhook(request.form)
        if sms is None:
            log.warning("sms: webhook without a usable MessageSid/From")
            return Response("bad request", status=400, mimetype="text/plain")
        started = time.monotonic()
        claim = state.begin(CHANNEL, sms.message_sid)
        if claim.claim is not Claim.NEW:
            log.info("sms: duplicate sid=%s (%s) sender=%s", sms.message_sid, claim.claim.value, sms.number_hash)
            return xml(claim.reply or render.twiml(None))
        try:
            reply = channel.handle(sms)
        except CoreUnavailable as exc:
            state.release(CHANNEL, sms.message_sid)
            log.warning("sms: core unavailable (%s) sid=%s sender=%s after %.0f ms", exc, sms.message_sid,
                        sms.number_hash, (time.monotonic() - started) * 1000)
            return xml(render.twiml(texts.UNAVAILABLE.format(hotline=texts.HOTLINE)))
        except Exception:
            state.release(CHANNEL, sms.message_sid)
            log.exception("sms: failed sid=%s sender=%s", sms.message_sid, sms.number_hash)
            return xml(render.twiml(texts.UNAVAILABLE.format(hotline=texts.HOTLINE)))
        state.finish(CHANNEL, sms.message_sid, reply)
        log.info("sms: sid=%s sender=%s chars=%d in %.0f ms", sms.message_sid, sms.number_hash,
                 len(sms.body), (time.monotonic() - started) * 1000)
        return xml(reply)

    return bp
