"""Twilio voice webhook forms → :class:`CallInbound` and :class:`GatherInput`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.core import InboundMessage
from common.identity import hash_sender, to_e164

CHANNEL = "voice"
SENDER_PREFIX = "voice-"
_SID_RE = re.compile(r"[A-Za-z0-9]{10,64}")
_DIGITS_RE = re.compile(r"[0-9*#]{1,32}")
MAX_SPEECH_CHARS = 500


@dataclass(frozen=True)
class CallInbound:
    """One webhook of a call.

    Attributes:
        call_sid: Twilio's ``CallSid`` (dedupe together with the step).
        phone: the caller's number in E.164, or None (withheld / not a number).
    """

    call_sid: str
    phone: str | None

    @property
    def sender_id(self) -> str:
        """The conversation id the core sees: one conversation per call (``voice-`` + hash of the CallSid)."""
        return SENDER_PREFIX + hash_sender(self.call_sid)

    @property
    def log_id(self) -> str:
        """Pseudonym of the caller for logs."""
        return hash_sender(self.phone or self.call_sid)

    def to_core(self, text: str, step: int, language: str = "zh") -> InboundMessage:
        """The message for the core; the caller's number only in ``metadata.phone``.

        ``language`` other than Mandarin (``yue``) goes in ``metadata.language``.
        """
        metadata: dict[str, Any] = {"phone": self.phone} if self.phone else {}
        if language != "zh":
            metadata["language"] = language
        return InboundMessage(channel=CHANNEL, sender_id=self.sender_id, text=text,
                              message_id=f"{self.call_sid}:{step}", metadata=metadata)


@dataclass(frozen=True)
class GatherInput:
    """What the caller entered: keys (``Digits``) or recognised speech (``SpeechResult``).

    ``confidence`` is Twilio's ``Confidence`` of the speech (0..1), None when not reported.
    """

    digits: str = ""
    speech: str = ""
    confidence: float | None = None

    @property
    def empty(self) -> bool:
        """Silence, or nothing usable."""
        return not self.digits and not self.speech


def parse_call(form: Mapping[str, Any]) -> CallInbound | None:
    """The call of a voice webhook; None without a well-formed ``CallSid``."""
    sid = str(form.get("CallSid") or "").strip()
    if not _SID_RE.fullmatch(sid):
        return None
    return CallInbound(call_sid=sid, phone=to_e164(str(form.get("From") or "")))


def parse_gather(form: Mapping[str, Any]) -> GatherInput:
    """Keys and speech of a ``<Gather>`` action; malformed keys are dropped, speech is trimmed."""
    digits = str(form.get("Digits") or "").strip()
    digits = digits.rstrip("#") if _DIGITS_RE.fullmatch(digits) else ""
    speech = " ".join(str(form.get("SpeechResult") or "").split())[:MAX_SPEECH_CHARS]
    confidence = parse_confidence(form.get("Confidence")) if speech else None
    return GatherInput(digits=digits, speech=speech, confidence=confidence)


def parse_confidence(raw: Any) -> float | None:
    """Twilio's ``Confidence`` as a number in 0..1; None when absent or malformed."""
    try:
        value = float(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if 0.0 <= value <= 1.0 else None


def parse_step(raw: str | None) -> int | None:
    """The ``step`` query parameter (a small non-negative integer), or None."""
    if raw is None or not raw.isdigit() or len(raw) > 4:
        return None
    return int(raw)
