"""Text normalisation for Chinese citizen input, done once and in one place.

Traditional → Simplified (OpenCC ``t2s``), full-width → half-width (NFKC), control
characters removed, whitespace collapsed, ASCII lower-cased. Chinese numerals are
left as they are so later parsers (dates, amounts) still see them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

_CONTROL_RE = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\ufeff]")
_SPACE_RE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _s2hk() -> Any:
    import opencc

    return opencc.OpenCC("s2hk")


def to_traditional_hk(text: str) -> str:
    """Convert Simplified Chinese to Hong Kong Traditional (what a Cantonese ``yue-HK`` voice reads)."""
    return _s2hk().convert(text) if text else text


def decode_bytes(raw: bytes) -> str:
    """Decode UTF-8 input strictly; raise UnicodeDecodeError for invalid bytes."""
    return raw.decode("utf-8")


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters to Simplified."""
    return _t2s().convert(text) if text else text


def normalize(text: str) -> str:
    """Normalise citizen text for matching.

    Args:
        text: raw input (any width, Traditional or Simplified).

    Returns:
        Simplified, half-width text with single spaces and lower-case ASCII.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL_RE.sub(" ", text)
    # Lone surrogates (from broken input) cannot be encoded anywhere downstream.
    text = text.encode("utf-8", "ignore").decode("utf-8")
    text = to_simplified(text)
    return _SPACE_RE.sub(" ", text).strip().lower()


def normalize_aligned(text: str) -> str:
    """Like :func:`normalize` but keeps the length, so entity offsets stay valid.

    Used by the Rasa pipeline, where training annotations point at character offsets:
    a character whose NFKC form is longer (e.g. ①) is kept as it is, and
    Traditional → Simplified is applied only when it keeps the length.
    """
    if not text:
        return ""
    chars = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch)
        chars.append(folded if len(folded) == 1 else ch)
    # No lower-casing here: entity values (YY401145, 4401…X) keep their case, and the
    # count vectorizers lower-case their own input.
    out = "".join(chars)
    simplified = to_simplified(out)
    return simplified if len(simplified) == len(out) else out
