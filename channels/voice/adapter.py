"""Hotline IVR glue: verify → dedupe (CallSid + step) → call state → (menu | core) → spoken TwiML.

Routes (all ``POST``, all signed by Twilio and verified against ``PUBLIC_BASE_URL``):

* ``/channels/voice/webhook`` — a call arrives: the language choice (普通话 / 粤语 / English) on a
  caller's first call, remembered by the hashed number; then greeting, recording notice, main menu.
* ``/channels/voice/gather?step=N`` — the caller's keys or speech for the prompt of step N-1.
* ``/channels/voice/dial-done?step=N`` — a transfer to a human ended.

Every prompt posts to ``step+1``, so ``CallSid:step`` identifies one turn: a retried
webhook gets the stored TwiML and is processed once. The call's state (menu, dialog or
number confirmation; the options, the number asked for, the text offered by SMS, the
re-prompt count) is one note of :class:`~channels.state.ChannelState`, so any worker can
take the next turn. One core conversation per call (``voice-`` + hash of the CallSid).

Every prompt is said inside its ``<Gather>``, so the caller can answer at any moment. After
each answer a short menu follows (1 repeats, ``*`` main menu, 0 a person; the main-menu keys
work too). Speech with a low ``Confidence`` is confirmed or replaced by the keypad, and a
number heard with low confidence is never acted on (thresholds in ``settings.yml``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
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
REPEAT_WHOLE_MAX_CHARS = 40  # a re-prompt repeats a reply this short (a question) with its menu
CALL_NOTE_TTL_S = 2 * 3600.0
DIAL_TIMEOUT_S = 30
MAX_SPEECH_TERMS = 400  # Twilio takes a few hundred hint phrases
TWIML_MIMETYPE = "text/xml"
SETTINGS_FILE = Path(__file__).with_name("settings.yml")
AFTER_ANSWER_KEYS = ("1", "2", "3", "8", "9")  # repeat and the main-menu keys, never the SMS key


@functools.lru_cache(maxsize=1)
def tunables() -> dict[str, Any]:
    """The committed IVR tunables (``settings.yml``: speech confidence thresholds, language memory)."""
    with SETTINGS_FILE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return data if isinstance(data, dict) else {}


def _confidence(name: str, default: float) -> float:
    return float((tunables().get("speech_confidence") or {}).get(name, default))


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
        confirm_below: speech recognised with a lower ``Confidence`` is confirmed before use
            (``settings.yml``).
        keypad_below: below this, or for a number below ``confirm_below``, the keypad is asked for.
    """

    voice: str = "Polly.Zhiyu"
    say_language: str = "cmn-CN"
    speech_language: str = "cmn-Hans-CN"
    core_timeout: float = DEFAULT_CORE_TIMEOUT
    agent_number: str | None = None
    agent_hours: AgentHours = field(default_factory=lambda: AgentHours.parse(None))
    hints: tuple[str, ...] = field(default_factory=texts.menu_hints)
    confirm_below: float = field(default_factory=lambda: _confidence("confirm_below", 0.6))
    keypad_below: float = field(default_factory=lambda: _confidence("keypad_below", 0.3))

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
        hints = tuple(h.strip() for h in (env.get("VOICE_HINTS") or "").split(",") if h.strip()) or texts.menu_hints()
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
        state: durable call state, dedupe, the callers' languages and SMS opt-outs.
        core: client of the core's ``voice`` relay.
        sender: outbound SMS for "send me the details" (None: not offered).
        settings: voice, languages, agent number and hours, speech confidence thresholds.
        clock: current time (tests pin it).
    """

    def __init__(self, public_base_url: str, state: ChannelState, core: CoreClient, sender: Sender | None,
                 settings: VoiceSettings, clock: Callable[[], dt.datetime] = _now):
        self.base = public_base_url.rstrip("/")
        self.state, self.core, self.sender, self.settings, self.clock = state, core, sender, settings, clock
        self.builders: dict[str, render.TwimlBuilder] = {}
        for lang in texts.LANGUAGES:
            v = texts.voice_of(lang)
            hints = texts.for_language(lang).hints
            if lang == texts.DEFAULT_LANGUAGE:
                v = texts.Voice(settings.voice, settings.say_language, settings.speech_language)
                hints = settings.hints
            elif lang in texts.CHAT_LANGUAGES:
                hints = hints + tuple(h for h in settings.hints if h not in texts.menu_hints())
            self.builders[lang] = render.TwimlBuilder(v.voice, v.say_language, v.speech_language, hints,
                                                      speech=lang in texts.CHAT_LANGUAGES)
        self.twiml = self.builders[texts.DEFAULT_LANGUAGE]

    # -- state ----------------------------------------------------------------------------
    def url(self, name: str, step: int) -> str:
        """Absolute URL of a follow-up action."""
        return f"{self.base}{PREFIX}/{name}?step={step}"

    def _load(self, call: CallInbound) -> dict[str, Any]:
        st = self.state.get_note(CHANNEL, call.call_sid, "call")
        return st if isinstance(st, dict) else {"mode": "menu", "retries": 0, "lang": texts.DEFAULT_LANGUAGE}

    def _save(self, call: CallInbound, st: dict[str, Any]) -> None:
        self.state.put_note(CHANNEL, call.call_sid, "call", st, ttl_s=CALL_NOTE_TTL_S)

    @staticmethod
    def _lang(st: Mapping[str, Any]) -> str:
        lang = st.get("lang")
        return lang if isinstance(lang, str) and lang in texts.LANGUAGES else texts.DEFAULT_LANGUAGE

    def _p(self, st: Mapping[str, Any]) -> texts.Prompts:
        return texts.for_language(self._lang(st))

    def _caller_key(self, call: CallInbound) -> str | None:
        return "caller-" + hash_sender(call.phone) if call.phone else None

    def remembered_language(self, call: CallInbound) -> str | None:
        """The language this caller chose on an earlier call (keyed by the hashed number), or None."""
        key = self._caller_key(call)
        lang = self.state.get_note(CHANNEL, key, "language") if key else None
        return lang if isinstance(lang, str) and lang in texts.LANGUAGES else None

    def _remember_language(self, call: CallInbound, lang: str) -> None:
        key = self._caller_key(call)
        if key:
            days = float(tunables().get("caller_language_days") or 365)
            self.state.put_note(CHANNEL, key, "language", lang, ttl_s=days * 86400)

    # -- entry points -----------------------------------------------------------------------
    def start(self, call: CallInbound) -> str:
        """A new call: the language choice (first call), or greeting, recording notice and menu."""
        lang = self.remembered_language(call)
        if lang is None:
            return self._language_prompt(call, {"retries": 0}, 1, greet=True)
        st: dict[str, Any] = {"mode": "menu", "retries": 0, "lang": lang}
        p = self._p(st)
        return self._menu_prompt(call, st, 1, prefix=[p.greeting, p.recording_notice])

    def on_gather(self, call: CallInbound, step: int, inp: GatherInput) -> str:
        """The caller's answer to the prompt of ``step - 1``.

        Raises:
            CoreUnavailable: the core did not answer in time.
        """
        st = self._load(call)
        nxt = step + 1
        mode = st.get("mode")
        if mode == "language":
            return self._choose_language(call, st, nxt, inp)
        if inp.empty:
            return self._silence(call, st, nxt, self._p(st).no_input)
        if inp.digits == "0":
            return self._handoff(call, st, step, nxt)
        if self._lang(st) not in texts.CHAT_LANGUAGES:
            return self._english(call, st, nxt, inp)
        if inp.speech and not inp.digits and mode in ("menu", "dialog"):
            unsure = self._unsure(call, st, nxt, inp)
            if unsure is not None:
                return unsure
        if mode == "confirm":
            return self._confirm(call, st, step, nxt, inp)
        if mode == "confirm_speech":
            return self._confirm_speech(call, st, step, nxt, inp)
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
        return self._menu_prompt(call, st, step + 1, prefix=[self._p(st).agent_busy])

    def apology(self, call: CallInbound, step: int) -> str:
        """When the core is down: apologise and offer the current prompt again (state unchanged)."""
        st = self._load_quietly(call)
        p, tw = self._p(st), self.builders[self._lang(st)]
        resp = tw.response()
        gather = tw.gather(resp, self.url("gather", step + 1), single_key=False)
        tw.say(gather, p.unavailable)
        tw.say(gather, p.next_prompt)
        return str(resp)

    def wait(self, call: CallInbound | None, path: str) -> str:
        """A duplicate of a turn still being processed: wait and ask again (then the stored reply comes)."""
        st = self._load_quietly(call) if call is not None else {}
        tw = self.builders[self._lang(st)]
        resp = tw.response()
        tw.say(resp, self._p(st).please_wait)
        resp.pause(length=2)
        resp.redirect(self.base + path, method="POST")
        return str(resp)

    def _load_quietly(self, call: CallInbound) -> dict[str, Any]:
        try:
            return self._load(call)
        except Exception:  # the state store itself failed: apologise in Mandarin
            log.warning("voice: call state unreadable call=%s", call.call_sid, exc_info=True)
            return {}

    # -- language ---------------------------------------------------------------------------
    def _language_prompt(self, call: CallInbound, st: dict[str, Any], nxt: int, *, greet: bool = False,
                         prefix: Sequence[str] = ()) -> str:
        """Each language's line in its own voice; one key picks (silence: Mandarin)."""
        st.update(mode="language", lang=st.get("lang") or texts.DEFAULT_LANGUAGE)
        resp = self.twiml.response()
        gather = self.twiml.gather(resp, self.url("gather", nxt), single_key=True, number=False, speech=False)
        for line in prefix:
            self.builders[self._lang(st)].say(gather, line)
        if greet:
            self.twiml.say(gather, texts.for_language(texts.DEFAULT_LANGUAGE).greeting)
        for _, lang, line in texts.language_choice():
            self.builders[lang].say(gather, line)
        self._save(call, st)
        return str(resp)

    def _choose_language(self, call: CallInbound, st: dict[str, Any], nxt: int, inp: GatherInput) -> str:
        chosen = {key: lang for key, lang, _ in texts.language_choice()}.get(inp.digits)
        if chosen is None and not inp.empty:
            st["retries"] = int(st.get("retries") or 0) + 1
            if st["retries"] <= MAX_REPROMPTS:
                return self._language_prompt(call, st, nxt, prefix=[self._p(st).no_match])
        if chosen is None:  # silence (or keys that pick nothing): Mandarin, not remembered
            st.update(lang=texts.DEFAULT_LANGUAGE)
        else:
            st.update(lang=chosen)
            self._remember_language(call, chosen)
        return self._menu_prompt(call, st, nxt, prefix=[self._p(st).recording_notice])

    def _english(self, call: CallInbound, st: dict[str, Any], nxt: int, inp: GatherInput) -> str:
        """The English menu: switch to Mandarin (1) or Cantonese (2), 9 repeats, 0 an agent, 8 languages."""
        pick = {"1": "zh", "2": "yue"}.get(inp.digits)
        if pick:
            st["lang"] = pick
            self._remember_language(call, pick)
            return self._menu_prompt(call, st, nxt)
        if inp.digits == texts.LANGUAGE_KEY:
            return self._language_prompt(call, st, nxt)
        if inp.digits in texts.REPEAT_KEYS or inp.digits == "*":
            return self._menu_prompt(call, st, nxt)
        return self._silence(call, st, nxt, self._p(st).no_match)

    # -- speech confidence ----------------------------------------------------------------
    def _unsure(self, call: CallInbound, st: dict[str, Any], nxt: int, inp: GatherInput) -> str | None:
        """The reply to speech recognised with low confidence, or None to act on it.

        Below ``keypad_below``, or a number below ``confirm_below``: nothing is acted on or read back,
        the caller uses the keypad. Below ``confirm_below``: "您是说…吗？确认请按1".
        """
        conf = inp.confidence
        if conf is None or conf >= self.settings.confirm_below:
            return None
        p = self._p(st)
        if texts.has_number(inp.speech):
            st.update(mode="dialog", retries=0, options=[], number={"length": None, "prefix": "", "allow_x": True},
                      sms_text=None, sms_key=None, answered=False, last=[p.number_by_keypad],
                      reprompt=[p.number_by_keypad])
            return self._prompt(call, st, nxt, [p.number_by_keypad], prefix=[p.not_heard])
        if conf < self.settings.keypad_below:
            return self._prompt(call, st, nxt, self._reprompt_lines(st), prefix=[p.not_heard])
        resume = {k: st.get(k) for k in ("mode", "last", "reprompt")}
        line = p.confirm_speech.format(text=inp.speech)
        st.update(mode="confirm_speech", retries=0, pending_speech=inp.speech, resume=resume, last=[line],
                  reprompt=[line])
        return self._prompt(call, st, nxt, [line])

    def _confirm_speech(self, call: CallInbound, st: dict[str, Any], step: int, nxt: int, inp: GatherInput) -> str:
        resume = st.pop("resume", None) or {"mode": "menu"}
        text = st.pop("pending_speech", None)
        if inp.digits == "1" and text:
            st.update(resume)
            return self._ask(call, st, text, step, nxt)
        if inp.digits == "2" or (inp.speech and not inp.digits):
            st.update(resume)
            if inp.speech and not inp.digits:  # said again instead of pressing: judged afresh
                return self.on_gather_resumed(call, st, step, nxt, inp)
            return self._prompt(call, st, nxt, self._reprompt_lines(st), prefix=[self._p(st).speech_retry])
        st.update(resume=resume, pending_speech=text)
        return self._silence(call, st, nxt, self._p(st).no_match)

    def on_gather_resumed(self, call: CallInbound, st: dict[str, Any], step: int, nxt: int,
                          inp: GatherInput) -> str:
        """Speech given where a confirmation was asked: treated as speech in the resumed mode."""
        unsure = self._unsure(call, st, nxt, inp)
        if unsure is not None:
            return unsure
        return self._ask(call, st, inp.speech, step, nxt)

    # -- modes ----------------------------------------------------------------------------
    def _menu(self, call: CallInbound, st: dict[str, Any], step: int, nxt: int, inp: GatherInput) -> str:
        d = inp.digits
        p = self._p(st)
        if not d:
            return self._ask(call, st, inp.speech, step, nxt)
        if d == "1":
            st.update(mode="dialog", retries=0, options=[], number=None, sms_text=None, answered=False,
                      last=[p.guide_prompt], reprompt=[p.guide_prompt])
            return self._prompt(call, st, nxt, [p.guide_prompt])
        if d in texts.MENU_PAYLOADS:
            return self._ask(call, st, texts.MENU_PAYLOADS[d], step, nxt)
        if d == texts.LANGUAGE_KEY:
            return self._language_prompt(call, st, nxt)
        if d in (*texts.REPEAT_KEYS, "*"):
            return self._menu_prompt(call, st, nxt)
        return self._silence(call, st, nxt, p.no_match)

    def _dialog(self, call: CallInbound, st: dict[str, Any], step: int, nxt: int, inp: GatherInput) -> str:
        d = inp.digits
        if not d:
            return self._ask(call, st, inp.speech, step, nxt)
        options = [o for o in st.get("options") or [] if isinstance(o, dict)]
        kind = st.get("number") if isinstance(st.get("number"), dict) else None
        answered = bool(st.get("answered"))
        if kind:
            value = number_value(kind, d)
            if not value:
                return self._silence(call, st, nxt, self._p(st).no_match)
            st.update(mode="confirm", pending=value, retries=0)
            return self._readback(call, st, nxt)
        if d == "*":
            return self._menu_prompt(call, st, nxt)
        if d in texts.REPEAT_KEYS or (answered and d == "1"):
            return self._prompt(call, st, nxt, st.get("last") or [self._p(st).next_prompt])
        if d == st.get("sms_key") and st.get("sms_text"):
            return self._send_sms(call, st, nxt)
        if options and len(d) == 1 and d.isdigit():
            chosen = option_for(options, d)
            if chosen:
                return self._ask(call, st, chosen, step, nxt)
            return self._silence(call, st, nxt, self._p(st).no_match)
        if d in texts.MENU_PAYLOADS:  # the main-menu keys work after an answer too
            return self._ask(call, st, texts.MENU_PAYLOADS[d], step, nxt)
        if d == texts.LANGUAGE_KEY:
            return self._language_prompt(call, st, nxt)
        if len(d) >= 2:
            st.update(mode="confirm", pending=number_value(None, d), retries=0)
            return self._readback(call, st, nxt)
        return self._silence(call, st, nxt, self._p(st).no_match)

    def _confirm(self, call: CallInbound, st: dict[str, Any], step: int, nxt: int, inp: GatherInput) -> str:
        if inp.digits == "1" and st.get("pending"):
            value = st.pop("pending")
            return self._ask(call, st, value, step, nxt)
        if inp.digits == "2":
            p = self._p(st)
            st.update(mode="dialog", retries=0, last=[p.reenter], reprompt=[p.reenter])
            st.pop("pending", None)
            return self._prompt(call, st, nxt, [p.reenter])
        return self._silence(call, st, nxt, self._p(st).no_match)

    # -- turns ----------------------------------------------------------------------------
    def _ask(self, call: CallInbound, st: dict[str, Any], text: str, step: int, nxt: int) -> str:
        messages = self.core.send(call.to_core(text, step, language=self._lang(st)),
                                  timeout=self.settings.core_timeout)
        return self._answer(call, st, messages, nxt)

    def _answer(self, call: CallInbound, st: dict[str, Any], messages: Sequence[BotMessage], nxt: int) -> str:
        p = self._p(st)
        ans = render.prepare(messages)
        said = [p.localise(s) for s in ans.sentences]
        if ans.handoff:
            return self._transfer(call, st, nxt, said or [p.transfer])
        menu = render.spoken_options(ans.options, ans.more_options, p) + [p.localise(s) for s in ans.after]
        answered = not ans.options and not ans.number
        sms_text, sms_key = None, None
        if ans.number:
            menu.append(p.number_entry)
        elif len(ans.full_text) >= SMS_OFFER_MIN_CHARS and self._can_sms(call):
            sms_key = free_key(ans.options, reserved=AFTER_ANSWER_KEYS if answered else ())
            menu.append(p.sms_offer.format(digit=sms_key))
            sms_text = ans.full_text
        if answered:
            menu.append(p.after_answer)
        wanted = None
        if ans.number:
            wanted = {"length": ans.number.length, "prefix": ans.number.prefix, "allow_x": ans.number.allow_x}
        lines = said + menu
        # a short reply (a question) is said again whole; a long answer is on key 1, not re-read
        short = sum(len(s) for s in said) <= REPEAT_WHOLE_MAX_CHARS
        st.update(mode="dialog", retries=0, options=[{"key": b.key, "payload": b.payload} for b in ans.options],
                  number=wanted, sms_text=sms_text, sms_key=sms_key, answered=answered, last=lines,
                  reprompt=lines if short or not menu else menu)
        st.pop("pending", None)
        return self._prompt(call, st, nxt, lines)

    def _readback(self, call: CallInbound, st: dict[str, Any], nxt: int) -> str:
        p = self._p(st)
        line = p.readback.format(digits=p.digits_spoken(st["pending"]))
        st.update(last=[line], reprompt=[line])
        return self._prompt(call, st, nxt, [line])

    def _send_sms(self, call: CallInbound, st: dict[str, Any], nxt: int) -> str:
        p = self._p(st)
        text = st.pop("sms_text", None)
        st.pop("sms_key", None)
        sent = False
        if self.sender is not None and call.phone and text and self._can_sms(call):
            try:
                self.sender.send(call.phone, text)
                sent = True
            except Exception:  # the caller hears an apology; the error is logged without the number
                log.warning("voice: SMS not sent call=%s sender=%s", call.call_sid, call.log_id, exc_info=True)
        st.update(retries=0, answered=False, last=[p.next_prompt], reprompt=[p.next_prompt])
        return self._prompt(call, st, nxt, [p.next_prompt], prefix=[p.sms_sent if sent else p.sms_not_sent])

    def _handoff(self, call: CallInbound, st: dict[str, Any], step: int, nxt: int) -> str:
        p = self._p(st)
        announce = [p.transfer]
        try:  # the core records the hand-off and words the announcement
            said = render.prepare(self.core.send(call.to_core(texts.HANDOFF_PAYLOAD, step, language=self._lang(st)),
                                                 timeout=self.settings.core_timeout)).sentences
            if self._lang(st) in texts.CHAT_LANGUAGES:
                announce = [p.localise(s) for s in said] or announce
        except CoreUnavailable as exc:
            log.warning("voice: core unavailable for hand-off (%s) call=%s", exc, call.call_sid)
        return self._transfer(call, st, nxt, announce)

    def _transfer(self, call: CallInbound, st: dict[str, Any], nxt: int, announce: list[str]) -> str:
        number, hours = self.settings.agent_number, self.settings.agent_hours
        p = self._p(st)
        if not number:
            return self._menu_prompt(call, st, nxt, prefix=[p.agent_unavailable])
        if not hours.is_open(self.clock()):
            start, end = hours.spoken()
            return self._menu_prompt(call, st, nxt, prefix=[p.after_hours.format(start=start, end=end)])
        tw = self.builders[self._lang(st)]
        resp = tw.response()
        for line in announce:
            tw.say(resp, line)
        resp.dial(number, action=self.url("dial-done", nxt), method="POST", timeout=DIAL_TIMEOUT_S)
        st.update(mode="transfer", retries=0)
        self._save(call, st)
        log.info("voice: transfer call=%s sender=%s", call.call_sid, call.log_id)
        return str(resp)

    def _silence(self, call: CallInbound, st: dict[str, Any], nxt: int, reason: str) -> str:
        p = self._p(st)
        st["retries"] = int(st.get("retries") or 0) + 1
        if st["retries"] > MAX_REPROMPTS + 1:
            st["mode"] = "ended"
            self._save(call, st)
            tw = self.builders[self._lang(st)]
            resp = tw.response()
            tw.say(resp, reason)
            tw.say(resp, p.goodbye)
            resp.hangup()
            return str(resp)
        if st["retries"] > MAX_REPROMPTS:
            return self._prompt(call, st, nxt, [p.offer_human], prefix=[reason])
        return self._prompt(call, st, nxt, self._reprompt_lines(st), prefix=[reason])

    def _reprompt_lines(self, st: Mapping[str, Any]) -> list[str]:
        """What the caller can do now, without the answer itself (that is on key 1)."""
        lines = st.get("reprompt") or st.get("last")
        return list(lines) if lines else [self._p(st).menu]

    def _menu_prompt(self, call: CallInbound, st: dict[str, Any], nxt: int, prefix: Sequence[str] = ()) -> str:
        menu = self._p(st).menu
        st.update(mode="menu", retries=0, options=[], number=None, sms_text=None, sms_key=None, answered=False,
                  last=[menu], reprompt=[menu])
        for key in ("pending", "pending_speech", "resume"):
            st.pop(key, None)
        return self._prompt(call, st, nxt, [menu], prefix=prefix)

    def _prompt(self, call: CallInbound, st: dict[str, Any], nxt: int, lines: Sequence[str], *,
                prefix: Sequence[str] = ()) -> str:
        """Everything said inside one ``<Gather>`` (the caller may answer at any moment)."""
        tw = self.builders[self._lang(st)]
        single, number = self._gather_kind(st)
        resp = tw.response()
        gather = tw.gather(resp, self.url("gather", nxt), single_key=single, number=number)
        for line in (*prefix, *lines):
            tw.say(gather, line)
        self._save(call, st)
        return str(resp)

    @staticmethod
    def _gather_kind(st: Mapping[str, Any]) -> tuple[bool, bool]:
        """(one key ends the input, keypad-only number entry) for the call's current mode."""
        if st.get("mode") in ("menu", "confirm", "confirm_speech", "language"):
            return True, False
        if st.get("number"):
            return False, True
        return bool(st.get("options") or st.get("answered")), False

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


def free_key(options: Sequence[Button], reserved: Sequence[str] = ()) -> str:
    """The first keypad digit 1..8 no option uses and not ``reserved`` (for "send it by SMS")."""
    used = {b.key for b in options} | set(reserved)
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
    menu_hints = texts.menu_hints()
    if settings.hints == menu_hints and speech_terms:
        terms = tuple(dict.fromkeys(t for t in speech_terms if t and t not in menu_hints))
        settings = dataclasses.replace(settings, hints=menu_hints + terms[:MAX_SPEECH_TERMS])
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
            return xml(claim.reply or channel.wait(call, request.full_path.rstrip("?")))
        if claim.claim is Claim.IN_PROGRESS:
            return xml(channel.wait(call, request.full_path.rstrip("?")))
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
