"""Slot search of bookings: opening hours on a day, slot starts, free places, bookable days.

The centre's opening hours look like ``{"weekdays": ["09:00-12:00", ...], "saturday": [...],
"sunday": [...]}``; working days, make-up workdays and public holidays come from the city's
one calendar (:mod:`common.calendar`). :class:`SlotSearch` adds the places already booked
(:class:`casework.repository.CaseworkRepository`) and the booking policy (slot length, lead
time, horizon). Plain blocking code: the action server calls it in a worker thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from common.calendar import is_public_holiday, is_working_day


class SlotCenter(Protocol):
    """What the slot search needs of a service centre."""

    id: str
    opening_hours: dict[str, Any]
    slot_capacity: int


class SlotUsage(Protocol):
    """Where the places already booked come from (the casework repository)."""

    def slot_usage(self, center_id: str, service_id: str, day: dt.date) -> dict[str, int]:
        """Places booked per slot start ("HH:MM") of a centre and service on a day."""
        ...


@dataclass(frozen=True)
class SlotPolicy:
    """The booking policy (``actions/config/settings.yml``).

    Attributes:
        slot_minutes: length of one appointment slot.
        min_lead_minutes: a slot today must start at least this long from now.
        horizon_days: bookable at most this many days ahead.
    """

    slot_minutes: int = 30
    min_lead_minutes: int = 30
    horizon_days: int = 30


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


def ranges_for(center: SlotCenter, day: dt.date) -> list[tuple[dt.time, dt.time]]:
    """A centre's opening hours on ``day`` by the city's working-day calendar."""
    return opening_ranges(center.opening_hours, day, is_working_day=is_working_day, is_public_holiday=is_public_holiday)


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


def nearest(slot: str, candidates: Sequence[str], n: int) -> list[str]:
    """The ``n`` candidates closest in time to ``slot``, in time order."""
    def minutes(s: str) -> int:
        h, m = map(int, s.split(":"))
        return h * 60 + m

    target = minutes(slot)
    return sorted(sorted(candidates, key=lambda s: (abs(minutes(s) - target), s))[:n], key=minutes)


def spread(candidates: Sequence[str], n: int) -> list[str]:
    """``n`` of ``candidates`` spread evenly over the day (first and last included), in time order."""
    if n <= 0:
        return []
    if len(candidates) <= n:
        return list(candidates)
    if n == 1:
        return [candidates[0]]
    step = (len(candidates) - 1) / (n - 1)
    return [candidates[round(i * step)] for i in range(n)]


class SlotSearch:
    """Free slots of a centre for a service: opening hours, the calendar, capacity and lead time.

    Args:
        usage: the places already booked per slot (the casework repository).
        policy: slot length, lead time and horizon.
    """

    def __init__(self, usage: SlotUsage, policy: SlotPolicy) -> None:
        self.usage = usage
        self.policy = policy

    def day_slots(self, center: SlotCenter, service_id: str, day: dt.date,
                  now: dt.datetime) -> tuple[list[str], list[str]]:
        """(every slot start of the day, those with a free place and enough lead time from ``now``)."""
        starts = slot_starts(ranges_for(center, day), self.policy.slot_minutes)
        usage = self.usage.slot_usage(center.id, service_id, day)
        not_before = None
        if day == now.date():
            not_before = (now + dt.timedelta(minutes=self.policy.min_lead_minutes)).time()
        return starts, free_slots(starts, usage, center.slot_capacity, not_before=not_before)

    def bookable_days(self, center: SlotCenter, service_id: str, now: dt.datetime, n: int = 5) -> list[dt.date]:
        """The next ``n`` days (from ``now``'s date) with a free slot, within the booking horizon."""
        today = now.date()
        out: list[dt.date] = []
        for offset in range(self.policy.horizon_days + 1):
            day = today + dt.timedelta(days=offset)
            if ranges_for(center, day) and self.day_slots(center, service_id, day, now)[1]:
                out.append(day)
                if len(out) >= n:
                    break
        return out
