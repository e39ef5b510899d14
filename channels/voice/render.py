"""Bot messages → spoken sentences, spoken options and TwiML through twilio's ``VoiceResponse``.

Spoken rendering (from :data:`CAPABILITIES`): replies are spoken and links are useless, so
URLs, emoji and markup are removed; line breaks and list markers become sentence breaks; long
sentences are split at commas; at most :data:`MAX_SENTENCES` sentences are read (the full
text can be sent by SMS); without buttons, options become "…请按 n" with the keys of the
answer's closed-question hint (at most :data:`MAX_SPOKEN_OPTIONS`). Whether the caller
types a number is decided by the answer's structured hint (``{"expect": "digits",
"length": 4}``), never by the wording of the question.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from channels.core import NO_KEY, BotMessage, Button, Capabilities, Hint, hint_of, keyed_options
from channels.voice import texts

CAPABILITIES = Capabilities(max_chars=None, buttons=False, links=False, speech=True, rich_text=False)
MAX_SENTENCE_CHARS = 40
MAX_SENTENCES = 15
MAX_SPOKEN_OPTIONS = 5

_URL_RE = re.compile(r"(https?://|www\.)[^\s，。；、）)]+", re.IGNORECASE)
_LIST_MARKER_RE = re.compile(r"(?m)^\s*(?:\d{1,2}[.、)）]|[-*•·])\s*")
_SENTENCE_RE = re.compile(r"[^。！？；!?;\n]+[。！？；!?;]?")
_CLAUSE_RE = re.compile(r"[^，、,：:]+[，、,：:]?")
_DROP_CHARS = "【「」『』《》\"“”*#_~`>"
_PAUSE_CHARS = "】|｜"  # headings and table separators become a pause


def _is_symbol(ch: str) -> bool:
    # Emoji, pictographs, dingbats and other symbols are unpronounceable (So/Sk/Cs); keep ¥ and %.
    return ord(ch) > 0xFFFF or unicodedata.category(ch) in ("So", "Sk", "Cs", "Co") or ch in "\ufe0f\u200d"


# A short label whose content was only a link ("网上办理：https://…") says nothing once the link is gone.
_LABEL_ONLY_RE = re.compile(r"(?m)^[^\S\n]*[^\n：:。，]{1,8}[：:][^\S\n]*(?:https?://|www\.)\S+[^\S\n]*$")


def clean_for_speech(text: str) -> str:
    """``text`` made speakable; lines become sentences.

    URLs (the channel has no use for links), emoji, markup characters and list markers go.
    """
    if not CAPABILITIES.links:
        text = _LABEL_ONLY_RE.sub("", text)
        text = _URL_RE.sub("", text)
    text = _LIST_MARKER_RE.sub("", text)
    text = "".join(" " if _is_symbol(c) or c in _DROP_CHARS else "，" if c in _PAUSE_CHARS else c for c in text)
    lines = [re.sub(r"\s*([，。！？；])\s*", r"\1", re.sub(r"\s+", " ", line)).strip(" ：:，,")
             for line in text.splitlines()]
    out = []
    for line in lines:
        if not line:
            continue
        out.append(line if line[-1] in "。！？；!?;" else line + "。")
    return "".join(out)


def sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Short spoken sentences of ``text`` (cleaned; long sentences split at clause boundaries)."""
    out: list[str] = []
    for sentence in _SENTENCE_RE.findall(clean_for_speech(text)):
        sentence = sentence.strip()
        if not sentence or not any(c.isalnum() for c in sentence):
            continue
        if len(sentence) <= max_chars:
            out.append(sentence)
            continue
        chunk = ""
        for clause in _CLAUSE_RE.findall(sentence):
            if chunk and len(chunk) + len(clause) > max_chars:
                out.append(chunk.strip())
                chunk = ""
            chunk += clause
        if chunk.strip():
            out.append(chunk.strip())
    return out


def spoken_options(options: Sequence[Button], more: bool = False, prompts: texts.Prompts | None = None) -> list[str]:
    """``确认预约，请按1。`` … for each keyed option (``more``: there are further options to say)."""
    p = prompts or texts.for_language()
    said = [p.option.format(title=p.localise(clean_for_speech(b.title).rstrip("。")) or b.payload, digit=b.key)
            for b in options if b.key != NO_KEY]
    if more:
        said.append(p.more_options)
    return said


def digits_spoken(value: str) -> str:
    """A number read digit by digit in Mandarin: ``2026`` → ``二 零 二 六``."""
    return texts.for_language().digits_spoken(value)


@dataclass(frozen=True)
class SpokenAnswer:
    """The core's answer prepared for the phone.

    Attributes:
        sentences: what is read, in order.
        options: the options the caller picks by key (payloads go to the core).
        more_options: there were more options than are read out.
        number: the number the bot asks to be typed (its hint), or None.
        full_text: the unabridged text of the answer, without questions that offer options
            (what "send it by SMS" sends).
        handoff: the core asked for a human (custom ``{"handoff": true}``).
        after: what the bot said after the message carrying the options (their question), read
            after the options.
    """

    sentences: tuple[str, ...]
    options: tuple[Button, ...]
    number: Hint | None
    full_text: str
    handoff: bool
    more_options: bool = False
    after: tuple[str, ...] = ()


def prepare(messages: Sequence[BotMessage]) -> SpokenAnswer:
    """Turn the core's messages into a :class:`SpokenAnswer`."""
    keyed: list[Button] = []
    if not CAPABILITIES.buttons:
        keyed = [b for b in keyed_options(messages, len(messages) * 100) if b.key != NO_KEY]
    options = tuple(keyed[:MAX_SPOKEN_OPTIONS])
    last_with_buttons = max((i for i, m in enumerate(messages) if m.buttons), default=None)
    split = len(messages) if last_with_buttons is None or not options else last_with_buttons + 1
    said: list[str] = []
    for m in messages[:split]:
        said.extend(sentences(m.text))
    after: list[str] = []
    for m in messages[split:]:
        after.extend(sentences(m.text))
    hint = hint_of(messages)
    number = hint if hint is not None and hint.wants_number and not options else None
    full = "\n".join(m.text.strip() for m in messages if m.text.strip() and not m.buttons)
    handoff = any(bool(m.custom and m.custom.get("handoff")) for m in messages)
    return SpokenAnswer(tuple(said[:MAX_SENTENCES]), options, number, full, handoff,
                        more_options=len(keyed) > MAX_SPOKEN_OPTIONS, after=tuple(after[:MAX_SENTENCES]))


class TwimlBuilder:
    """Builds IVR TwiML with one voice, language and speech settings.

    Args:
        voice: ``<Say voice>`` (e.g. ``Polly.Zhiyu``).
        say_language: ``<Say language>`` (e.g. ``cmn-CN``).
        speech_language: ``<Gather language>`` for recognition (e.g. ``cmn-Hans-CN``).
        hints: speech recognition hints.
        speech: the caller may speak (False: keys only, e.g. the English menu).
    """

    def __init__(self, voice: str, say_language: str, speech_language: str, hints: Sequence[str],
                 speech: bool = True):
        self.voice, self.say_language, self.speech_language = voice, say_language, speech_language
        self.hints = ",".join(h.replace(",", " ") for h in hints if h)
        self.speech = speech

    def response(self) -> Any:
        """A new ``VoiceResponse``."""
        from twilio.twiml.voice_response import VoiceResponse

        return VoiceResponse()

    def say(self, node: Any, text: str) -> None:
        """Append one ``<Say>`` to ``node`` (a response or a gather)."""
        node.say(text, voice=self.voice, language=self.say_language)

    def gather(self, node: Any, action: str, *, single_key: bool, number: bool = False,
               speech: bool | None = None) -> Any:
        """Append a ``<Gather>`` posting to ``action`` even on silence.

        Args:
            node: the response.
            action: absolute action URL.
            single_key: one key ends the input (menus and option lists).
            number: keypad-only number entry finished with ``#``.
            speech: override of the builder's ``speech`` (keys only when False).
        """
        if not (self.speech if speech is None else speech):
            return node.gather(input="dtmf", action=action, method="POST", timeout=5, num_digits=1,
                               action_on_empty_result=True)
        if number:
            return node.gather(input="dtmf", action=action, method="POST", finish_on_key="#", timeout=10,
                               action_on_empty_result=True)
        return node.gather(input="dtmf speech", action=action, method="POST", language=self.speech_language,
                           hints=self.hints or None, speech_timeout="auto", timeout=5, finish_on_key="#",
                           num_digits=1 if single_key else None, action_on_empty_result=True)
