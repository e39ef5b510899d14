"""Small parsers for what citizens type into forms: names, codes, last four digits."""

from __future__ import annotations

import re
import unicodedata

_NAME_PREFIX_RE = re.compile(r"^(我叫|我系|我是|本人|姓名|名字|名|叫)[:：\s]*")
_NAME_RE = re.compile(r"^[\u3400-\u9fffA-Za-z·•. ]{2,20}$")
BOOKING_REF_RE = re.compile(r"(?i)(?<![a-z0-9])(?:yy)?\s*(\d{6})(?!\d)")
APPLICATION_NO_RE = re.compile(r"(?i)(?<![a-z0-9])(ts\d{14}|ts\d{10}|20\d{10})(?!\d)")
_LAST4_RE = re.compile(r"(?i)(?<![0-9a-z])([0-9]{3}[0-9x])(?![0-9a-z])")
_DECLINE_WORDS = ("不留", "唔留", "不用", "唔使", "不需要", "不要", "算了", "none", "no")


def fold(text: str) -> str:
    """NFKC-folded, trimmed text (full-width digits become ASCII)."""
    return unicodedata.normalize("NFKC", text or "").strip()


# Replies to "your name?" that are courtesies or refusals, not names (谢芳 is a name, 谢谢 is not).
_NOT_NAMES = frozenset([
    "谢谢", "多谢", "感谢", "谢啦", "唔该", "你好", "您好", "在吗", "在不在", "好的", "好",
    "嗯", "嗯嗯", "是的", "是", "对", "对的", "可以", "行", "ok", "再见", "拜拜",
    "不知道", "不清楚", "没有", "无", "不用", "算了", "不要", "不想说", "保密", "随便",
    "啊", "哦", "喂", "什么", "啥",
])


def clean_person_name(text: str) -> str | None:
    """A plausible person's name from the text ("我叫陈小红" → "陈小红"), or None."""
    name = _NAME_PREFIX_RE.sub("", fold(text)).strip(" 。，,.!！?？~～")
    if name.lower() in _NOT_NAMES or name.rstrip("啊呀啦吧哈") in _NOT_NAMES:
        return None
    return name if _NAME_RE.match(name) and not any(ch.isdigit() for ch in name) else None


def parse_booking_ref(text: str) -> str | None:
    """``YY`` + 6 digits from the text (the letters may be omitted, e.g. on a keypad)."""
    match = BOOKING_REF_RE.search(fold(text))
    return f"YY{match.group(1)}" if match else None


def parse_application_no(text: str) -> str | None:
    """A 12-digit application number or a TS case number, upper-cased."""
    match = APPLICATION_NO_RE.search(fold(text).replace(" ", ""))
    return match.group(1).upper() if match else None


def parse_last4(text: str) -> str | None:
    """Four characters (digits, the last may be X) given as the last four of a phone or ID."""
    folded = fold(text)
    matches = _LAST4_RE.findall(folded)
    return matches[-1].upper() if matches else None


def declines(text: str) -> bool:
    """Whether the citizen declines to give something ("不留", "唔使")."""
    low = fold(text).lower()
    return any(word in low for word in _DECLINE_WORDS)


def spoken_digits(code: str) -> str:
    """A code read out character by character (for voice): "YY123" → "Y Y 1 2 3"."""
    return " ".join(code)
