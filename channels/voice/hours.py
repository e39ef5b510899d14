"""Human agent hours of the hotline: a daily window on working days, Asia/Shanghai.

Working days are the city's one calendar (:mod:`common.calendar`): the State Council's
holiday schedule where ``chinese_calendar`` knows the year (including weekend make-up
days), else ``common/holidays.yml`` — the same days the bookings use.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from common.calendar import is_working_day
from common.clock import CITY_TZ

DEFAULT_HOURS = "08:30-18:00"
_HOURS_RE = re.compile(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-4]):([0-5]\d)\s*")


@dataclass(frozen=True)
class AgentHours:
    """A daily window ``start``–``end`` (local time) on working days."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str | None) -> AgentHours:
        """Parse ``HH:MM-HH:MM`` (default :data:`DEFAULT_HOURS`).

        Raises:
            ValueError: when the text is not a window with start before end.
        """
        m = _HOURS_RE.fullmatch(text or DEFAULT_HOURS)
        if not m:
            raise ValueError(f"HOTLINE_AGENT_HOURS must look like 08:30-18:00, got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        start = dt.time(h1, m1)
        end = dt.time(23, 59, 59) if h2 == 24 else dt.time(h2, m2)
        if start >= end:
            raise ValueError(f"HOTLINE_AGENT_HOURS must start before it ends, got {text!r}")
        return cls(start, end)

    def is_open(self, when: dt.datetime) -> bool:
        """True when a human agent is available at ``when`` (timezone-aware; naive means UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        local = when.astimezone(CITY_TZ)
        return is_working_day(local.date()) and self.start <= local.time() < self.end

    def spoken(self) -> tuple[str, str]:
        """Start and end as spoken times, e.g. ``("8点30分", "18点")``."""
        return _spoken(self.start), _spoken(self.end)


def _spoken(t: dt.time) -> str:
    return f"{t.hour}点{t.minute}分" if t.minute else f"{t.hour}点"
