"""Booking rules of the dialogue as plain functions.

Which slot a spoken time or period means, and which centre a citizen named.

The slot arithmetic itself (opening hours, slot starts, free places, nearest slots) is
casework's: :mod:`casework.slots`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from actions.services.dates import TimeSpec

PERIODS: dict[str, tuple[dt.time, dt.time]] = {
    "morning": (dt.time(0, 0), dt.time(12, 0)),
    "noon": (dt.time(11, 30), dt.time(14, 0)),
    "afternoon": (dt.time(12, 0), dt.time(18, 0)),
    "evening": (dt.time(18, 0), dt.time(23, 59)),
}


class CenterLike(Protocol):
    """What the rules need of a service centre."""

    id: str
    name: str
    district: str
    opening_hours: dict[str, Any]

    def offers(self, service_id: str) -> bool: ...


def slot_for(spec: TimeSpec, starts: Sequence[str], slot_minutes: int) -> str | None:
    """The slot containing an exact time, or None when that time is outside every slot."""
    if spec.hour is None:
        return None
    wanted = spec.hour * 60 + spec.minute
    for s in starts:
        h, m = map(int, s.split(":"))
        if h * 60 + m <= wanted < h * 60 + m + slot_minutes:
            return s
    return None


def in_period(slot: str, period: str) -> bool:
    """Whether a slot starts in a part of the day (morning, noon, afternoon, evening)."""
    lo, hi = PERIODS[period]
    return lo <= dt.time.fromisoformat(slot) < hi


def match_center(text: str, centers: Sequence[CenterLike], service_id: str | None) -> CenterLike | None:
    """The centre a citizen named: by id, by name, or the one in the district they named.

    Only centres offering ``service_id`` (when given) are considered; for a district the
    general district centre is preferred over specialised halls.
    """
    text = (text or "").strip().lower()
    if not text:
        return None
    pool = [c for c in centers if service_id is None or c.offers(service_id)]
    for c in pool:
        if text == c.id.lower() or text == c.name:
            return c
    named = [c for c in pool if c.name in text or (len(text) >= 4 and text in c.name)]
    if named:
        return max(named, key=lambda c: len(c.name))
    in_district = [c for c in pool if c.district.removesuffix("区") and c.district.removesuffix("区") in text]
    if in_district:
        return sorted(in_district, key=lambda c: (not c.name.endswith("政务服务中心"), c.id))[0]
    return None
