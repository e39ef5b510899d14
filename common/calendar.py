"""Working days of government service centres: weekends, public holidays and make-up workdays.

China moves working days around its public holidays (调休): some weekdays are closed and
some weekends are make-up working days (补班). The ``chinese-calendar`` package carries the
official arrangement for the years it knows; for later years (it raises
``NotImplementedError``) we fall back to the staff-maintained ``common/holidays.yml``
and record a warning that staff must verify the dates.

This is the one working-day calendar of every process: bookings (action server), the
hotline's agent hours (``channels.voice.hours``) and the staff dashboard's notice
(:func:`calendar_notice`). ``chinese-calendar`` and PyYAML are imported on first use, so
the module imports in the Rasa venv too.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

HOLIDAYS_FILE_ENV = "HOLIDAYS_FILE"
DEFAULT_HOLIDAYS_FILE = Path(__file__).resolve().parent / "holidays.yml"
_REPO_ROOT = Path(__file__).resolve().parents[1]


class HolidayCalendar:
    """The fallback holiday calendar read from a YAML file.

    The file holds ``holidays`` (closed dates) and ``workdays`` (make-up working days on
    weekends), both lists of ISO dates. A date listed as a workday is open, a listed
    holiday is closed, and any other date is open Monday to Friday. The file is read on
    first use, never at import; its path is, in order, the constructor argument, the
    ``HOLIDAYS_FILE`` environment variable, or ``common/holidays.yml``.

    The calendar also records, once per year, the warning that a year had to be answered
    from the file instead of ``chinese-calendar``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        """Create a calendar; nothing is read until a date is looked up.

        Args:
            path: YAML file to read instead of ``HOLIDAYS_FILE`` or the committed default.
        """
        self._explicit_path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._loaded: tuple[Path, frozenset[date], frozenset[date]] | None = None
        self._warned_years: set[int] = set()
        self._warnings: list[str] = []

    @property
    def path(self) -> Path:
        """The file this calendar reads (or has read)."""
        if self._loaded is not None:
            return self._loaded[0]
        return self._resolve_path()

    @property
    def holidays(self) -> frozenset[date]:
        """Dates listed as closed."""
        return self._data()[1]

    @property
    def workdays(self) -> frozenset[date]:
        """Dates listed as make-up working days."""
        return self._data()[2]

    def years(self) -> frozenset[int]:
        """Years for which the file lists at least one date."""
        _, holidays, workdays = self._data()
        return frozenset(d.year for d in holidays | workdays)

    def is_working_day_by_file(self, day: date) -> bool:
        """Whether ``day`` is a working day by this file and the weekday rule alone.

        Use the module-level :func:`is_working_day` instead; it prefers ``chinese-calendar``.
        """
        day = _as_date(day)
        _, holidays, workdays = self._data()
        if day in workdays:
            return True
        if day in holidays:
            return False
        return day.weekday() < 5

    def note_fallback(self, year: int) -> None:
        """Record (and log at WARNING, once per year) that ``year`` is answered from the file."""
        with self._lock:
            if year in self._warned_years:
                return
        message = (
            f"chinese-calendar has no data for {year}; using {_display(self.path)} — staff must verify"
        )
        if year not in self.years():
            message += f" (the file lists no dates for {year}, so only weekends are closed)"
        with self._lock:
            if year in self._warned_years:
                return
            self._warned_years.add(year)
            self._warnings.append(message)
        logger.warning("%s", message)

    def warnings(self) -> list[str]:
        """The warnings recorded so far, oldest first."""
        with self._lock:
            return list(self._warnings)

    def _resolve_path(self) -> Path:
        if self._explicit_path is not None:
            return self._explicit_path
        from_env = os.environ.get(HOLIDAYS_FILE_ENV)
        return Path(from_env) if from_env else DEFAULT_HOLIDAYS_FILE

    def _data(self) -> tuple[Path, frozenset[date], frozenset[date]]:
        with self._lock:
            if self._loaded is None:
                path = self._resolve_path()
                holidays, workdays = _read_calendar_file(path)
                self._loaded = (path, holidays, workdays)
            return self._loaded


def _read_calendar_file(path: Path) -> tuple[frozenset[date], frozenset[date]]:
    import yaml

    with path.open(encoding="utf-8") as handle:
        try:
            raw: Any = yaml.safe_load(handle)
        except (yaml.YAMLError, ValueError) as exc:  # PyYAML raises ValueError for dates like 2027-02-30
            raise ValueError(f"{path}: not a valid calendar file: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping with 'holidays' and 'workdays'")
    unknown = sorted(str(key) for key in raw if key not in ("holidays", "workdays"))
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; expected 'holidays' and 'workdays'")
    holidays = _date_list(path, "holidays", raw.get("holidays"))
    workdays = _date_list(path, "workdays", raw.get("workdays"))
    both = sorted(holidays & workdays)
    if both:
        raise ValueError(f"{path}: dates listed both as holidays and as workdays: {[d.isoformat() for d in both]}")
    return holidays, workdays


def _date_list(path: Path, key: str, value: Any) -> frozenset[date]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise ValueError(f"{path}: '{key}' must be a list of YYYY-MM-DD dates")
    dates: set[date] = set()
    for item in value:
        if isinstance(item, date) and not isinstance(item, datetime):
            dates.add(item)
        elif isinstance(item, str):
            try:
                dates.add(date.fromisoformat(item.strip()))
            except ValueError as exc:
                raise ValueError(f"{path}: '{key}' entry {item!r} is not a YYYY-MM-DD date") from exc
        else:
            raise ValueError(f"{path}: '{key}' entry {item!r} is not a YYYY-MM-DD date")
    return frozenset(dates)


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(_REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _as_date(value: date) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date, got {type(value).__name__}")


_default_calendar: HolidayCalendar | None = None
_default_lock = threading.Lock()


def default_calendar() -> HolidayCalendar:
    """The process-wide fallback calendar, created on first use."""
    global _default_calendar
    with _default_lock:
        if _default_calendar is None:
            _default_calendar = HolidayCalendar()
        return _default_calendar


def _library_is_working_day(day: date) -> bool | None:
    """``chinese-calendar``'s answer, or None for a year it has no data for."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def is_working_day(d: date, calendar: HolidayCalendar | None = None) -> bool:
    """Whether service centres are open on ``d``.

    Public holidays are closed, make-up workdays (调休补班) are open, and otherwise
    Monday–Friday are open and weekends closed. ``chinese-calendar`` answers for the years
    it knows; other years come from ``calendar`` (default: :func:`default_calendar`) and
    record a warning for the staff dashboard.

    Args:
        d: the day (a ``datetime`` is reduced to its date).
        calendar: fallback calendar for years ``chinese-calendar`` does not cover.

    Returns:
        True if it is a working day.

    Raises:
        TypeError: ``d`` is not a date.
        OSError, ValueError: the fallback file is needed but missing or malformed.
    """
    day = _as_date(d)
    answer = _library_is_working_day(day)
    if answer is not None:
        return answer
    fallback = calendar if calendar is not None else default_calendar()
    fallback.note_fallback(day.year)
    return fallback.is_working_day_by_file(day)


def calendar_warnings(years: Iterable[int] = (), calendar: HolidayCalendar | None = None) -> list[str]:
    """Warnings for the staff dashboard about years answered from the fallback file.

    Args:
        years: years to check now (e.g. this year and next), so the warning shows before
            anybody asks about a date in them; years already looked up are always included.
        calendar: the fallback calendar (default: :func:`default_calendar`).

    Returns:
        One message per uncovered year, e.g. "chinese-calendar has no data for 2027; using
        common/holidays.yml — staff must verify".
    """
    fallback = calendar if calendar is not None else default_calendar()
    for year in years:
        if _library_is_working_day(date(year, 1, 1)) is None:
            fallback.note_fallback(year)
    return fallback.warnings()


def is_public_holiday(d: date | datetime, calendar: HolidayCalendar | None = None) -> bool:
    """Whether ``d`` is a statutory holiday (not merely a weekend).

    Centres open on ordinary Saturdays stay closed on those.
    """
    import chinese_calendar

    day = d.date() if isinstance(d, datetime) else d
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        return bool(on_holiday and name)
    except NotImplementedError:
        cal = calendar or default_calendar()
        return day in cal.holidays


def library_knows(year: int) -> bool:
    """Whether ``chinese-calendar`` has the holiday schedule of ``year``."""
    return _library_is_working_day(date(year, 6, 1)) is not None


def uncovered_years(today: date, horizon: int) -> list[int]:
    """Years between ``today`` and ``today + horizon`` days that ``chinese-calendar`` does not know."""
    years = range(today.year, (today + timedelta(days=horizon)).year + 1)
    return [y for y in years if not library_knows(y)]


def calendar_notice(today: date, horizon: int) -> str | None:
    """The staff notice (Chinese) about years answered from the fallback file.

    ``chinese-calendar`` ships the State Council holiday schedule only up to the year it was
    released for (1.11.0: 2026). Bookings in later years are then judged by
    ``common/holidays.yml`` (``HOLIDAYS_FILE``), an estimate until staff enter the
    published schedule; the staff dashboard shows this notice whenever the booking horizon
    reaches such a year.

    Args:
        today: today in the city.
        horizon: the booking horizon in days.

    Returns:
        The notice, or None when the library covers the whole horizon.
    """
    years = uncovered_years(today, horizon)
    if not years:
        return None
    shown = _display(Path(os.environ.get(HOLIDAYS_FILE_ENV) or DEFAULT_HOLIDAYS_FILE))
    listed = "、".join(str(y) for y in years)
    return (f"节假日库 chinese-calendar 没有 {listed} 年的放假安排，这些年份的预约按 {shown} 判断工作日。"
            "请在国务院办公厅放假通知发布后核对并更新该文件（含调休上班日），或升级 chinese-calendar。")
