"""Tell staff when bookings rely on the fallback holiday list instead of ``chinese-calendar``.

``chinese-calendar`` ships the State Council holiday schedule only up to the year it was
released for (1.11.0: 2026) and raises ``NotImplementedError`` after that. The action
server then reads ``actions/config/holidays.yml`` (``HOLIDAYS_FILE``), an estimate until
staff enter the published schedule. The staff dashboard shows this notice whenever the
booking horizon reaches such a year.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_HOLIDAYS = REPO / "actions" / "config" / "holidays.yml"
DEFAULT_SETTINGS = REPO / "actions" / "config" / "settings.yml"


def library_knows(year: int) -> bool:
    """Whether ``chinese-calendar`` has the holiday schedule of ``year``."""
    import chinese_calendar

    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def horizon_days() -> int:
    """The booking horizon from the action server's settings (30 when unreadable)."""
    path = Path(os.environ.get("ACTIONS_SETTINGS") or DEFAULT_SETTINGS)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return int((data.get("booking") or {}).get("horizon_days", 30))
    except (OSError, ValueError, TypeError, yaml.YAMLError):
        return 30


def uncovered_years(today: dt.date, horizon: int) -> list[int]:
    """Years between ``today`` and ``today + horizon`` that ``chinese-calendar`` does not know."""
    years = range(today.year, (today + dt.timedelta(days=horizon)).year + 1)
    return [y for y in years if not library_knows(y)]


def calendar_notice(today: dt.date, horizon: int | None = None) -> str | None:
    """The staff notice (Chinese), or None when the library covers the whole booking horizon."""
    years = uncovered_years(today, horizon_days() if horizon is None else horizon)
    if not years:
        return None
    path = Path(os.environ.get("HOLIDAYS_FILE") or DEFAULT_HOLIDAYS)
    try:
        shown = path.relative_to(REPO)
    except ValueError:
        shown = path
    listed = "、".join(str(y) for y in years)
    return (f"节假日库 chinese-calendar 没有 {listed} 年的放假安排，这些年份的预约按 {shown} 判断工作日。"
            "请在国务院办公厅放假通知发布后核对并更新该文件（含调休上班日），或升级 chinese-calendar。")
