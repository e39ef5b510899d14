"""Booking rules as plain functions: opening days and hours, slots, free places, centres.

Nothing here knows about Rasa or the database; callers pass the centre's opening hours
(``{"weekdays": ["09:00-12:00", ...], "saturday": [...], "sunday": [...]}``), the usage
per slot and the calendar functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
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


def _parse_range(text: str) -> tuple[dt.time, dt.time]:
    start, end = text.split("-")
    return dt.time.fromisoformat(start), dt.time.fromisoformat(end)


def opening_ranges(
    opening_hours: dict[str, Any], day: dt.date, *, is_working_day: Callable[[dt.date], bool],
    is_public_holiday: Callable[[dt.date], bool],
) -> list[tuple[dt.time, dt.time]]:
    """The centre's opening hours on ``day``.

    Working days (including make-up workdays that fall on a weekend) use the weekday
    hours; an ordinary Saturday or Sunday uses that day's hours (most centres: closed);
    public holidays are closed.
    """
    if is_working_day(day):
        key = "weekdays"
    elif is_public_holiday(day):
        return []
    else:
        key = "saturday" if day.weekday() == 5 else "sunday" if day.weekday() == 6 else ""
    return [_parse_range(r) for r in opening_hours.get(key) or []]


def slot_starts(ranges: Iterable[tuple[dt.time, dt.time]], slot_minutes: int) -> list[str]:
    """Start times ("HH:MM") of every whole slot inside the opening ranges."""
    out = []
    step = dt.timedelta(minutes=slot_minutes)
    for start, end in ranges:
        cur = dt.datetime.combine(dt.date.min, start)
        stop = dt.datetime.combine(dt.date.min, end)
        while cur + step <= stop:
            out.append(cur.strftime("%H:%M"))
            cur += step
    return out


def free_slots(
    starts: Sequence[str], usage: dict[str, int], capacity: int, *, not_before: dt.time | None = None
) -> list[str]:
    """Slots with at least one free place, optionally only those starting at or after ``not_before``."""
    return [s for s in starts if usage.get(s, 0) < capacity
            and (not_before is None or dt.time.fromisoformat(s) >= not_before)]


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


def nearest(slot: str, candidates: Sequence[str], n: int) -> list[str]:
    """The ``n`` candidates closest in time to ``slot``, in time order."""
    def minutes(s: str) -> int:
        h, m = map(int, s.split(":"))
        return h * 60 + m

    target = minutes(slot)
    return sorted(sorted(candidates, key=lambda s: (abs(minutes(s) - target), s))[:n], key=minutes)


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
