"""Read a complaint letter (citizen mailbox) in one go: where it happened and a contact number.

A letter cannot answer the follow-up questions of a chat in the same turn, so the
complaint form takes what the letter itself says: a labelled place ("地址：…"), else the
first district-and-street mention, and the first valid mainland phone number in it.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import phonenumbers
import yaml

from common.identity import normalize_cn_phone

_LABELLED_PLACE_RE = re.compile(r"(?:事发地点|发生地点|事发地址|具体地址|地址|地点|位置)\s*[:：]\s*([^\n。；;]{2,80})")
# The city and its districts (a generic "X区" would also match 小区, 社区, 园区 …).
CITY_FILE = Path(__file__).resolve().parent.parent / "config" / "city.yml"
MAX_LETTER_SCAN = 5000


@lru_cache(maxsize=1)
def _district_place_re() -> re.Pattern[str]:
    """The district-and-street pattern, built from ``CITY_FILE`` (env) or ``actions/config/city.yml``."""
    path = Path(os.environ.get("CITY_FILE") or CITY_FILE)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    city = re.escape(str(data.get("city", "")))
    districts = "|".join(re.escape(str(d)) for d in data.get("districts") or [])
    return re.compile(
        rf"((?:{city})?(?:{districts})区[\u4e00-\u9fa5A-Za-z0-9]{{1,24}}?"
        r"(?:路|街|大道|大街|巷|村|小区|花园|广场|公园|市场|站|号|苑|城|大厦|中心)(?:[0-9]{1,5}号)?)")


def find_location(text: str) -> str | None:
    """The place a letter names: a labelled line first, else a district + street mention."""
    text = (text or "")[:MAX_LETTER_SCAN]
    match = _LABELLED_PLACE_RE.search(text)
    if match:
        return match.group(1).strip(" ，,")
    match = _district_place_re().search(text)
    return match.group(1) if match else None


def find_phone(text: str) -> str | None:
    """The first valid mainland mobile or fixed-line number in a letter, as E.164."""
    for match in phonenumbers.PhoneNumberMatcher((text or "")[:MAX_LETTER_SCAN], "CN"):
        number = normalize_cn_phone(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
        if number:
            return number
    return None
