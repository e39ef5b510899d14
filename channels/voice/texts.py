"""Channel-level IVR prompts per caller language, read from ``texts.yml``; keypad conventions.

Wording lives in ``texts.yml`` (dialogue wording in the Rasa domain). :func:`for_language`
gives the prompts of one language (``zh`` 普通话, ``yue`` 粤语, ``en`` English; a prompt missing
for a language falls back to ``zh``). The module's upper-case names (``texts.MENU`` …) are the
Mandarin prompts, kept for readers of the Mandarin IVR.

Keypad: in the main menu 1 办事指南, 2 预约办理, 3 查询办理进度, 8 language, 9 重听,
0 人工服务. After an answer 1 repeats it, ``*`` returns to the main menu, 0 asks for a human and
the main-menu keys 2, 3 and 8 still work; when options are read, their digits pick them.
Numbers are typed and finished with ``#`` when the bot's message carries a ``{"expect":
"digits"|"phone"}`` hint (never decided by its wording); ``*`` stands for the letter X where the
hint allows it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.textnorm import to_traditional_hk

TEXTS_FILE = Path(__file__).with_name("texts.yml")
DEFAULT_LANGUAGE = "zh"
LANGUAGES = ("zh", "yue", "en")
CHAT_LANGUAGES = ("zh", "yue")  # the assistant answers in Chinese; English gets the menu and 12345

# Core payloads of the main menu (intent payloads bypass NLU; 1 first asks for the question).
MENU_PAYLOADS = {"2": "/book_appointment", "3": "/check_application_status"}
HANDOFF_PAYLOAD = "/request_human"
LANGUAGE_KEY = "8"
REPEAT_KEYS = ("9",)  # 1 repeats too, after an answer


@dataclass(frozen=True)
class Voice:
    """The TTS voice and the languages of one caller language."""

    voice: str
    say_language: str
    speech_language: str


@dataclass(frozen=True)
class Prompts:
    """The prompts of one language (attribute = the lower-case key in ``texts.yml``)."""

    lang: str
    table: Mapping[str, str]
    digits: Mapping[str, str]
    hints: tuple[str, ...]
    spoken: tuple[tuple[str, str], ...]
    traditional: bool = False

    def __getattr__(self, name: str) -> str:
        try:
            return self.table[name]
        except KeyError:
            raise AttributeError(name) from None

    def digits_spoken(self, value: str) -> str:
        """A number read digit by digit: ``2026`` → ``二 零 二 六``."""
        return " ".join(self.digits.get(c, c) for c in value.upper())

    def localise(self, sentence: str) -> str:
        """A sentence written for Mandarin, made right for this language's voice.

        Words read wrongly get their spoken forms; for Cantonese, Hong Kong Traditional characters.
        """
        for word, spoken in self.spoken:
            sentence = sentence.replace(word, spoken)
        return to_traditional_hk(sentence) if self.traditional else sentence


@functools.lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    with TEXTS_FILE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{TEXTS_FILE}: not a mapping")
    return data


@functools.lru_cache(maxsize=len(LANGUAGES))
def for_language(lang: str = DEFAULT_LANGUAGE) -> Prompts:
    """The prompts of ``lang`` (unknown languages: Mandarin)."""
    data = _data()
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    table = {key: str(by_lang.get(lang) or by_lang[DEFAULT_LANGUAGE]) for key, by_lang in data["prompts"].items()}
    digits = data["digits"].get(lang) or data["digits"][DEFAULT_LANGUAGE]
    hints = tuple(data["hints"].get(lang) or data["hints"][DEFAULT_LANGUAGE])
    spoken = tuple(sorted(((str(k), str(v)) for k, v in (data.get(f"{lang}_spoken") or {}).items()),
                          key=lambda kv: -len(kv[0])))
    traditional = (data["languages"].get(lang) or {}).get("script") == "hk"
    return Prompts(lang, table, {str(k): str(v) for k, v in digits.items()}, hints, spoken, traditional)


def voice_of(lang: str) -> Voice:
    """The voice settings committed for ``lang``."""
    row = _data()["languages"].get(lang) or _data()["languages"][DEFAULT_LANGUAGE]
    return Voice(str(row["voice"]), str(row["say_language"]), str(row["speech_language"]))


def language_choice() -> list[tuple[str, str, str]]:
    """(key, language, line) of the language menu, in key order."""
    rows = _data()["language_choice"]
    return [(str(k), str(v["lang"]), str(v["text"])) for k, v in sorted(rows.items())]


def menu_hints() -> tuple[str, ...]:
    """Speech hints of the Mandarin menu."""
    return for_language(DEFAULT_LANGUAGE).hints


_NUMBER_RE = re.compile(r"[0-9０-９]{3,}|[零〇一二两三四五六七八九幺]{4,}")


def has_number(speech: str) -> bool:
    """True when recognised speech carries a number (digits, or four Chinese digits in a row)."""
    return bool(_NUMBER_RE.search(speech))


def __getattr__(name: str) -> Any:
    """``texts.MENU`` … : the Mandarin prompt of that key; ``texts.MENU_HINTS``, ``texts.CHINESE_DIGITS``."""
    if name == "MENU_HINTS":
        return menu_hints()
    if name == "CHINESE_DIGITS":
        return dict(for_language(DEFAULT_LANGUAGE).digits)
    if name.isupper() and name.lower() in _data()["prompts"]:
        return for_language(DEFAULT_LANGUAGE).table[name.lower()]
    raise AttributeError(name)
