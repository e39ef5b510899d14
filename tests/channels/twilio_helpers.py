"""Helpers for the SMS and voice tests: signed Twilio webhooks, TwiML parsing, fakes passed through constructors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from lxml import etree

from channels.core import BotMessage, Button, CoreUnavailable, InboundMessage

TOKEN = "test-auth-token-0123456789abcdef"
BASE = "https://bot.example.gov.cn"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# Tuesday 2026-12-01 10:00 in Shanghai: a working day inside the default agent hours.
WORKDAY_MORNING = dt.datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
AGENT = "+862012345678"  # the hotline agents' number the voice channel dials
SUNDAY_MORNING = dt.datetime(2026, 12, 6, 10, 0, tzinfo=SHANGHAI)


def sign(url: str, params: Mapping[str, str], token: str = TOKEN) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a POST of ``params`` to ``url``."""
    from twilio.request_validator import RequestValidator

    return RequestValidator(token).compute_signature(url, dict(params))


def post_signed(client: Any, path: str, params: Mapping[str, str], *, base: str = BASE, token: str = TOKEN,
                signature: str | None = None, headers: Mapping[str, str] | None = None) -> Any:
    """POST ``params`` to ``path`` (may carry a query) with a valid signature unless ``signature`` is given."""
    sig = sign(base + path, params, token) if signature is None else signature
    hdrs = {"X-Twilio-Signature": sig} if sig else {}
    hdrs.update(headers or {})
    return client.post(path, data=urlencode(dict(params)), headers=hdrs,
                        content_type="application/x-www-form-urlencoded")


def twiml(res: Any) -> etree._Element:
    """The TwiML document of a response, parsed (asserts it is XML)."""
    assert res.status_code == 200, res.get_data(as_text=True)
    assert res.mimetype in ("text/xml", "application/xml")
    return etree.fromstring(res.get_data())


def texts_of(doc: etree._Element, xpath: str) -> list[str]:
    """Text of every element matched by ``xpath``."""
    return [(e.text or "") for e in doc.xpath(xpath)]


def sms_form(body: str, sid: str = "SM00000000000000000000000000000001",
             sender: str = "+8613900001234") -> dict[str, str]:
    """A Twilio incoming-SMS form."""
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender,
            "To": "+8610690000000", "Body": body, "NumMedia": "0"}


def call_form(call_sid: str = "CA00000000000000000000000000000001", caller: str = "+8613900001234",
              **extra: str) -> dict[str, str]:
    """A Twilio voice webhook form."""
    form = {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": caller, "To": "+862012345000",
            "CallStatus": "in-progress", "Direction": "inbound"}
    form.update(extra)
    return form


@dataclass
class FakeCore:
    """Scripted core: answers with the next reply (a list of BotMessage) and records what it got."""

    replies: list[list[BotMessage]] = field(default_factory=list)
    received: list[InboundMessage] = field(default_factory=list)
    down: bool = False

    def send(self, msg: InboundMessage, timeout: float | None = None) -> list[BotMessage]:
        self.received.append(msg)
        if self.down:
            raise CoreUnavailable("ConnectionError")
        return self.replies.pop(0) if self.replies else []


def bot(text: str = "", buttons: Sequence[tuple[str, str]] = (), custom: Mapping[str, Any] | None = None) -> BotMessage:
    """A bot message."""
    return BotMessage(text=text, buttons=tuple(Button(t, p) for t, p in buttons), custom=custom)


@dataclass
class FakeSender:
    """A :class:`channels.core.Sender` that records sends."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, to: str, text: str) -> str:
        self.sent.append((to, text))
        return f"SM{len(self.sent):032d}"


class Caller:
    """Drives the IVR like Twilio does: posts to the action URL of the last TwiML it got."""

    def __init__(self, client: Any, call_sid: str = "CA" + "0" * 31 + "1", caller: str = "+8613900001234"):
        self.client, self.call_sid, self.caller = client, call_sid, caller
        self.doc: etree._Element | None = None

    def call(self, language: str | None = "1") -> etree._Element:
        """The call arrives; a first caller's language choice is answered with ``language`` (None: not)."""
        from channels.voice.texts import language_choice

        self.doc = twiml(post_signed(self.client, "/channels/voice/webhook", call_form(self.call_sid, self.caller)))
        if language is not None and {line for _, _, line in language_choice()} & set(self.said()):
            self.answer(language)
        return self.doc

    def next_action(self, element: str = "Gather") -> str:
        """Path + query of the pending ``<Gather>`` (or ``<Dial>``) action."""
        assert self.doc is not None
        actions = self.doc.xpath(f"//{element}/@action")
        assert len(actions) == 1, etree.tostring(self.doc, encoding="unicode")
        assert actions[0].startswith(BASE)
        return actions[0][len(BASE):]

    def answer(self, digits: str | None = None, speech: str | None = None, *, element: str = "Gather",
               confidence: float = 0.9, **extra: str) -> etree._Element:
        """Enter ``digits`` (``#`` finishes) or say ``speech`` (recognised with ``confidence``);
        None for both is silence."""
        form = call_form(self.call_sid, self.caller, **extra)
        if digits is not None:
            form["Digits"] = digits
        if speech is not None:
            form["SpeechResult"], form["Confidence"] = speech, f"{confidence:.2f}"
        self.doc = twiml(post_signed(self.client, self.next_action(element), form))
        return self.doc

    def said(self) -> list[str]:
        """Everything the last TwiML says, in order."""
        assert self.doc is not None
        return texts_of(self.doc, "//Say")
