"""Hotline IVR glue: verify → dedupe (CallSid + step) → call state → (menu | core) → spoken TwiML.

Routes (all ``POST``, all signed by Twilio and verified against ``PUBLIC_BASE_URL``):

* ``/channels/voice/webhook`` — a call arrives: greeting, recording notice, main menu.
* ``/channels/voice/gather?step=N`` — the caller's keys or speech for the prompt of step N-1.
* ``/channels/voice/dial-done?step=N`` — a transfer to a human ended.

Every prompt posts to ``step+1``, so ``CallSid:step`` identifies one turn: a retried
webhook gets the stored TwiML and is processed once. The call's state (menu, dialog or
number confirmation; the options, the number asked for, the text offered by SMS, the
re-prompt count) is one note of :class:`~channels.state.ChannelState`, so any worker can
take the next turn. One core conversation per call (``voice-`` + hash of the CallSid).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, request

from channels.core import (
    BotMessage,
    Button,
    CoreClient,
    CoreUnavailable,
    Sender,
    option_for,
    seconds_setting,
)
from channels.state import ChannelState, Claim
from channels.twilio_common.verify import SIGNATURE_HEADER, TwilioSettings, WebhookVerifier
from channels.voice import render, texts
from channels.voice.hours import AgentHours
from channels.voice.parse import CHANNEL, CallInbound, GatherInput, parse_call, parse_gather, parse_step
from common.identity import hash_sender, is_mobile, to_e164

log = logging.getLogger(__name__)

PREFIX = "/channels/voice"
DEFAULT_CORE_TIMEOUT = 8.0
MAX_CORE_TIMEOUT = 12.0
MAX_REPROMPTS = 2
SMS_OFFER_MIN_CHARS = 40
CALL_NOTE_TTL_S = 2 * 3600.0
DIAL_TIMEOUT_S = 30
MAX_SPEECH_TERMS = 400  # Twilio takes a few hundred hint phrases
TWIML_MIMETYPE = "text/xml"


@dataclass(frozen=True)
class VoiceSettings:
    """Tunables of the IVR.

    Attributes:
        voice: ``VOICE_TTS_VOICE`` (default ``Polly.Zhiyu``).
        say_language: ``VOICE_LANGUAGE`` of ``<Say>`` (default ``cmn-CN``).
        speech_language: ``VOICE_SPEECH_LANGUAGE`` of ``<Gather>`` (default ``cmn-Hans-CN``).
        core_timeout: ``VOICE_CORE_TIMEOUT`` seconds (default 8; Twilio waits 15 s).
        agent_number: ``HOTLINE_AGENT_NUMBER`` in E.164, or None (no transfers).
        agent_hours: ``HOTLINE_AGENT_HOURS`` (default 08:30-18:00 on working days).
        hints: speech hints (``VOICE_HINTS``, comma separated; default the menu words plus the
            terms the app server reads from the knowledge base at start-up).
    """

    voice: str = "Polly.Zhiyu"
    say_language: str = "cmn-CN"
    speech_language: str = "cmn-Hans-CN"
    core_timeout: float = DEFAULT_CORE_TIMEOUT
    agent_number: str | None = None
    agent_hours: AgentHours = field(default_factory=lambda: AgentHours.parse(None))
    hints: tuple[str, ...] = texts.MENU_HINTS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VoiceSettings:
        """Read the settings.

        Raises:
            ValueError: naming every unusable value.
        """
        env = os.environ if env is None else env
        problems: list[str] = []
        timeout = seconds_setting(env, "VOICE_CORE_TIMEOUT", DEFAULT_CORE_TIMEOUT, MAX_CORE_TIMEOUT, problems)
        agent = None
        raw = (env.get("HOTLINE_AGENT_NUMBER") or "").strip()
        if raw:
            agent = to_e164(raw)
            if agent is None:
                problems.append("HOTLINE_AGENT_NUMBER is not a phone number")
        hours = AgentHours.parse(None)
        try:
            hours = AgentHours.parse(env.get("HOTLINE_AGENT_HOURS") or None)
        except ValueError as exc:
            problems.append(str(exc))
        hints = tuple(h.strip() for h in (env.get("VOICE_HINTS") or "").split(",") if h.strip()) or texts.MENU_HINTS
        if problems:
            raise ValueError("voice settings: " + "; ".join(problems))
        return cls(voice=(env.get("VOICE_TTS_VOICE") or "Polly.Zhiyu").strip(),
                   say_language=(env.get("VOICE_LANGUAGE") or "cmn-CN").strip(),
                   speech_language=(env.get("VOICE_SPEECH_LANGUAGE") or "cmn-Hans-CN").strip(),
                   core_timeout=timeout, agent_number=agent, agent_hours=hours, hints=hints)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class VoiceChannel:
    """The IVR's turn logic, independent of Flask.

    Args:
        public_base_url: the origin Twilio calls (action URLs are absolute).
        state: durable call state, dedupe and SMS opt-outs.
        core: client of the core's ``voice`` relay.
        sender: outbound SMS for "send me the details" (None: not offered).
        settings: voice, languages, agent number and hours.
        clock: current time (tests pin it).
    """

    def __init__(self, public_base_url: str, state: ChannelState, core: CoreClient, sender: Sender | None,
                 settings: VoiceSettings, clock: Callable[[], dt.datetime] = _now):
        self.base = public_base_url.rstrip("/")
        self.state, self.core, self.sender, self.settings, self.clock = state, core, sender, settings, clock
        self.twiml = render.TwimlBuilder(settings.voice, settings.say_language, settings.speech_language,
                                         settings.hints)

    # -- state ----------------------------------------------------------------------------
    def url(self, name: str, step: int) -> str:
        """Absolute URL of a follow-up action."""
        return f"{self.base}{PREFIX}/{name}?step={step}"

    def _load(self, call: CallInbound) -> dict[str, Any]:
        st = self.state.get_note(CHANNEL, call.call_sid, "call")
        return st if isinstance(st, dict) else {"mode": "menu", "retries": 0, "last": [texts.MENU]}

    def _save(self, call: CallInbound, st: dict[str, Any]) -> None:
        self.state.put_note(CHANNEL, call.call_sid, "call", st, ttl_s=CALL_NOTE_TTL_S)

    # -- entry points -----------------------------------------------------------------------
    def start(self, call: CallInbound) -> str:
        """A new call: greeting, recording notice and the main menu."""
        st: dict[str, Any] = {"mode": "menu", "retries": 0, "last": [texts.MENU]}
        return self._prompt(call, st, 1, [texts.GREETING, texts.RECORDING_NOTICE, texts.MENU], single_key=True)

    def on_gather(self, call: CallInbound, step: int, inp: GatherInput) -> str:
        """The caller's answer to the prompt of ``step - 1``.

        Raises:
            CoreUnavailable: the core did not answer in time.
        """
        st = self._load(call)
        nxt = step + 1
        if inp.empty:
            return self._silence(call, st, nxt, texts.NO_INPUT)
        if inp.digits == "0":
            return self._handoff(call, st, step, nxt)
        mode = st.get("mode")
        if mode == "confirm":
            return self._confirm(call, st, step, nxt, inp)
        if mode == "dialog":
            return self._dialog(call, st, step, nxt, inp)
        return self._menu(call, st, step, nxt, inp)

    def dial_done(self, call: CallInbound, step: int, status: str) -> str:
        """After a transfer: hang up when the agent answered, else apologise and return to the menu."""
        st = self._load(call)
        if status in ("completed", "answered"):
            st["mode"] = "ended"
            self._save(call, st)
            resp = self.twiml.response()
            resp.hangup()
            return str(resp)
        return self._menu_prompt(call, st, step + 1, prefix=[texts.AGENT_BUSY])

    def apology(self, call: CallInbound, step: int) -> str:
        """When the core is down: apologise and offer the current prompt again (state unchanged)."""
        resp = self.twiml.response()
        self.twiml.say(resp, texts.UNAVAILABLE)
        gather = self.twiml.gather(resp, self.url("gather", step + 1), single_key=False)
        self.twiml.say(gather, texts.NEXT_PROMPT)
        return str(resp)

    def wait(self, path: str) -> str:
        """A duplicate of a turn still being processed: wait and ask again (then the stored reply comes)."""
        resp = self.twiml.response()
        self.twiml.say(resp, texts.PLEASE_WAIT)
        resp.pause(length=2)
        resp.redirect(self.base + path, method="POST")
        return str(resp)

    # -- modes ----------------------------------------------------------------------------
    def _menu(self, call: CallInbound, st: dict[str, Any], step: int, nxt: int, inp: GatherInput) -> str:
        d = inp.digits
        if not d:
            return self._ask(call, st, inp.speech, step, nxt)
        if d == "1":
            st.update(mode="dialog", retries=0, options=[], number=None, sms_text=None, last=[texts.GUIDE_PROMPT])
            return self._prompt(call, st, nxt, [texts.GUIDE_PROMPT], single_key=False)
        if d in texts.MENU_PAYLOADS:
            return self._ask(call, st, texts.MENU_PAYLOADS[d], step, nxt)
        if d in ("9", "*"):
            return self._menu_prompt(call, st, nxt)
        return self._silence(call, st, nxt, texts.NO_MATCH)

    def _dialog(self, call: CallInbound, st: dict[str, Any], step: int, nxt: int, inp: GatherInput) -> str:
        d = inp.digits
        if not d:
            return self._ask(call, st, inp.speech, step, nxt)
        options = [o for o in st.get("options") or [] if isinstance(o, dict)]
        kind = st.get("number") if isinstance(st.get("number"), dict) else None
        if d == "*" and not kind:
            return self._menu_prompt(call, st, nxt)
        if d == "9" and not kind:
            single, number = self._gather_kind(st)
            return self._prompt(call, st, nxt, st.get("last") or [texts.NEXT_PROMPT], single_key=single, number=number)
        if d == st.get("sms_key") and st.get("sms_text") and not kind:
            return self._send_sms(call, st, nxt)
        if options and len(d) == 1 and d.isdigit():
            chosen = option_for(options, d)
            if chosen:
                return self._ask(call, st, chosen, step, nxt)
            return self._silence(call, st, nxt, texts.NO_MATCH)
        if kind or len(d) >= 2:
            value = number_value(kind, d)
            if not value:
                return self._silence(call, st, nxt, texts.NO_MATCH)
            st.update(mode="confirm", pending=value, retries=0)
            return self._readback(call, st, nxt)
        return self._silence(call, st, nxt, texts.NO_MATCH)

    def _confirm(self, call: CallInbound, st: dict[str, Any], step: int, nxt: int, inp: GatherInput) -> str:
        if inp.digits == "1" and st.get("pending"):
            value = st.pop("pending")
            return self._ask(call, st, value, step, nxt)
        if inp.digits == "2":
            st.update(mode="dialog", retries=0, last=[texts.REENTER])
            st.pop("pending", None)
            return self._prompt(call, st, nxt, [texts.REENTER], single_key=False, number=True)
        return self._silence(call, st, nxt, texts.NO_MATCH)

    # -- turns ----------------------------------------------------------------------------
    def _ask(self, call: CallInbound, st: dict[str, Any], text: str, step: int, nxt: int) -> str:
        messages = self.core.send(call.to_core(text, step), timeout=self.settings.core_timeout)
        return self._answer(call, st, messages, nxt)

    def _answer(self, call: CallInbound, st: dict[str, Any], messages: Sequence[BotMessage], nxt: int) -> str:
        ans = render.prepare(messages)
        if ans.handoff:
            return self._transfer(call, st, nxt, list(ans.sentences) or [texts.TRANSFER])
        lines = list(ans.sentences) + render.spoken_options(ans.options, ans.more_options)
        sms_text, sms_key = None, None
        if ans.number:
            lines.append(texts.NUMBER_ENTRY)
        elif len(ans.full_text) >= SMS_OFFER_MIN_CHARS and self._can_sms(call):
            sms_key = free_key(ans.options)  # "1" unless options take the first keys
            lines.append(texts.SMS_OFFER.format(digit=sms_key))
            sms_text = ans.full_text
        if not lines:
            lines = [texts.NEXT_PROMPT]
        wanted = None
        if ans.number:
            wanted = {"length": ans.number.length, "prefix": ans.number.prefix, "allow_x": ans.number.allow_x}
        st.update(mode="dialog", retries=0, options=[{"key": b.key, "payload": b.payload} for b in ans.options],
                  number=wanted, sms_text=sms_text, sms_key=sms_key, last=lines)
        st.pop("pending", None)
        single, number = self._gather_kind(st)
        return self._prompt(call, st, nxt, lines, single_key=single, number=number)

    def _readback(self, call: CallInbound, st: dict[str, Any], nxt: int) -> str:
        line = texts.READBACK.format(digits=render.digits_spoken(st["pending"]))
        st["last"] = [line]
        return self._prompt(call, st, nxt, [line], single_key=True)

    def _send_sms(self, call: CallInbound, st: dict[str, Any], nxt: int) -> str:
        text = st.pop("sms_text", None)
        st.pop("sms_key", None)
        sent = False
        if self.sender is not None and call.phone and text and self._can_sms(call):
            try:
                self.sender.send(call.phone, text)
                sent = True
            except Exception:  # the caller hears an apology; the error is logged without the number
                log.warning("voice: SMS not sent call=%s sender=%s", call.call_sid, call.log_id, exc_info=True)
        st.update(retries=0, last=[texts.NEXT_PROMPT])
        return self._prompt(call, st, nxt, [texts.NEXT_PROMPT], single_key=False,
                            prefix=[texts.SMS_SENT if sent else texts.SMS_NOT_SENT])

    def _handoff(self, call: CallInbound, st: dict[str, Any], step: int, nxt: int) -> str:
        announce = [texts.TRANSFER]
        try:  # the core records the hand-off and words the announcement
            said = render.prepare(self.core.send(call.to_core(texts.HANDOFF_PAYLOAD, step),
                                                 timeout=self.settings.core_timeout)).sentences
            announce = list(said) or announce
        except CoreUnavailable as exc:
            log.warning("voice: core unavailable for hand-off (%s) call=%s", exc, call.call_sid)
        return self._transfer(call, st, nxt, announce)

    def _transfer(self, call: CallInbound, st: dict[str, Any], nxt: int, announce: list[str]) -> str:
        number, hours = self.settings.agent_number, self.settings.agent_hours
        if not number:
            return self._menu_prompt(call, st, nxt, prefix=[texts.AGENT_UNAVAILABLE])
        if not hours.is_open(self.clock()):
            start, end = hours.spoken()
            return self._menu_prompt(call, st, nxt, prefix=[texts.AFTER_HOURS.format(start=start, end=end)])
        resp = self.twiml.response()
        for line in announce:
            self.twiml.say(resp, line)
        resp.dial(number, action=self.url("dial-done", nxt), method="POST", timeout=DIAL_TIMEOUT_S)
        st.update(mode="transfer", retries=0)
        self._save(call, st)
        log.info("voice: transfer call=%s sender=%s", call.call_sid, call.log_id)
        return str(resp)

    def _silence(self, call: CallInbound, st: dict[str, Any], nxt: int, reason: str) -> str:
        st["retries"] = int(st.get("retries") or 0) + 1
        if st["retries"] > MAX_REPROMPTS + 1:
            st["mode"] = "ended"
            self._save(call, st)
            resp = self.twiml.response()
            self.twiml.say(resp, reason)
            self.twiml.say(resp, texts.GOODBYE)
            resp.hangup()
            return str(resp)
        if st["retries"] > MAX_REPROMPTS:
            return self._prompt(call, st, nxt, [texts.OFFER_HUMAN], single_key=False, prefix=[reason])
        single, number = self._gather_kind(st)
        return self._prompt(call, st, nxt, st.get("last") or [texts.MENU], single_key=single, number=number,
                            prefix=[reason])

    def _menu_prompt(self, call: CallInbound, st: dict[str, Any], nxt: int, prefix: Sequence[str] = ()) -> str:
        st.update(mode="menu", retries=0, options=[], number=None, sms_text=None, sms_key=None,
                  last=[texts.MENU])
        st.pop("pending", None)
        return self._prompt(call, st, nxt, [texts.MENU], single_key=True, prefix=prefix)

    def _prompt(self, call: CallInbound, st: dict[str, Any], nxt: int, lines: Sequence[str], *, single_key: bool,
                number: bool = False, prefix: Sequence[str] = ()) -> str:
        resp = self.twiml.response()
        for line in prefix:
            self.twiml.say(resp, line)
        gather = self.twiml.gather(resp, self.url("gather", nxt), single_key=single_key, number=number)
        for line in lines:
            self.twiml.say(gather, line)
        self._save(call, st)
        return str(resp)

    @staticmethod
    def _gather_kind(st: Mapping[str, Any]) -> tuple[bool, bool]:
        """(one key ends the input, keypad-only number entry) for the call's current mode."""
        if st.get("mode") in ("menu", "confirm"):
            return True, False
        return bool(st.get("options")), bool(st.get("number"))

    def _can_sms(self, call: CallInbound) -> bool:
        return bool(self.sender is not None and call.phone and is_mobile(call.phone)
                    and not self.state.is_opted_out("sms", hash_sender(call.phone)))


def number_value(number: Mapping[str, Any] | None, digits: str) -> str:
    """What a typed number means, as the question's hint says.

    ``*`` is the X that may end an ID number (``allow_x``), otherwise ignored; digits of the
    expected length get the hint's ``prefix`` (a booking reference's ``YY``). Returns "" when nothing usable was typed.
    """
    number = number or {}
    value = digits.replace("*", "X") if number.get("allow_x") else digits.replace("*", "")
    length, prefix = number.get("length"), number.get("prefix") or ""
    if prefix and value.isdigit() and (length is None or len(value) == length):
        value = prefix + value
    return value


def free_key(options: Sequence[Button]) -> str:
    """The first keypad digit 1..8 no option uses (for "send it by SMS")."""
    used = {b.key for b in options}
    return next(str(d) for d in range(1, 9) if str(d) not in used)


def create_blueprint(twilio: TwilioSettings, *, state: ChannelState, core: CoreClient, sender: Sender | None,
                     settings: VoiceSettings | None = None, speech_terms: Sequence[str] = (),
                     clock: Callable[[], dt.datetime] = _now) -> Blueprint:
    """The ``/channels/voice`` blueprint (settings default to the environment; bad values raise at start-up).

    ``speech_terms`` (the services as citizens name them, from the knowledge base) are added
    to the speech hints unless ``VOICE_HINTS`` replaces them all.
    """
    verifier = WebhookVerifier(twilio.auth_token, twilio.public_base_url)
    settings = settings or VoiceSettings.from_env()
    if settings.hints == texts.MENU_HINTS and speech_terms:
        terms = tuple(dict.fromkeys(t for t in speech_terms if t and t not in texts.MENU_HINTS))
        settings = dataclasses.replace(settings, hints=texts.MENU_HINTS + terms[:MAX_SPEECH_TERMS])
    channel = VoiceChannel(twilio.public_base_url, state, core, sender, settings, clock)
    bp = Blueprint("voice", __name__, url_prefix=PREFIX)

    def xml(body: str) -> Response:
        return Response(body, status=200, mimetype=TWIML_MIMETYPE)

    def run(kind: str, turn: Callable[[CallInbound, int], str]) -> Response:
        query = request.query_string.decode("latin-1")
        if not verifier.is_valid(request.path, query, request.form, request.headers.get(SIGNATURE_HEADER)):
            log.warning("voice: rejected %s webhook with a missing or invalid signature", kind)
            return Response("forbidden", status=403, mimetype="text/plain")
        call = parse_call(request.form)
        step = 0 if kind == "start" else parse_step(request.args.get("step"))
        if call is None or step is None:
            log.warning("voice: %s webhook without a usable CallSid/step", kind)
            return Response("bad request", status=400, mimetype="text/plain")
        key = f"{call.call_sid}:{kind}:{step}"
        started = time.monotonic()
        claim = state.begin(CHANNEL, key)
        if claim.claim is Claim.DONE:
            log.info("voice: duplicate %s call=%s step=%d", kind, call.call_sid, step)
            return xml(claim.reply or channel.wait(request.full_path.rstrip("?")))
        if claim.claim is Claim.IN_PROGRESS:
            return xml(channel.wait(request.full_path.rstrip("?")))
        try:
            reply = turn(call, step)
        except CoreUnavailable as exc:
            state.release(CHANNEL, key)
            log.warning("voice: core unavailable (%s) call=%s step=%d after %.0f ms", exc, call.call_sid, step,
                        (time.monotonic() - started) * 1000)
            return xml(channel.apology(call, step))
        except Exception:
            state.release(CHANNEL, key)
            log.exception("voice: failed %s call=%s step=%d", kind, call.call_sid, step)
            return xml(channel.apology(call, step))
        state.finish(CHANNEL, key, reply)
        log.info("voice: %s call=%s sender=%s step=%d in %.0f ms", kind, call.call_sid, call.log_id, step,
                 (time.monotonic() - started) * 1000)
        return xml(reply)

    @bp.post("/webhook")
    def webhook() -> Response:
        """A call arrives."""
        return run("start", lambda call, step: channel.start(call))

    @bp.post("/gather")
    def gather() -> Response:
        """The caller's keys or speech."""
        inp = parse_gather(request.form)
        return run("gather", lambda call, step: channel.on_gather(call, step, inp))

    @bp.post("/dial-done")
    def dial_done() -> Response:
        """A transfer ended (``DialCallStatus``)."""
        status = str(request.form.get("DialCallStatus") or "")
        return run("dial", lambda call, step: channel.dial_done(call, step, status))

    return bp
