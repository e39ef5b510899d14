"""The city's clock: every business date is a date in Asia/Shanghai."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

CITY_TZ = ZoneInfo("Asia/Shanghai")


def city_now() -> dt.datetime:
    """Timezone-aware now in Asia/Shanghai."""
    return dt.datetime.now(CITY_TZ)


def city_today() -> dt.date:
    """Today's date in Asia/Shanghai."""
    return city_now().date()
