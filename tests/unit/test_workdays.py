"""Working days of service centres (common.calendar): plain pytest, no network."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import chinese_calendar
import pytest
import yaml

from common.calendar import (
    DEFAULT_HOLIDAYS_FILE,
    HOLIDAYS_FILE_ENV,
    HolidayCalendar,
    calendar_warnings,
    is_working_day,
)

D = dt.date
LOGGER = "common.calendar"


def write_calendar(path: Path, holidays: list[str] | None = None, workdays: list[str] | None = None) -> Path:
    path.write_text(
        yaml.safe_dump({"holidays": holidays or [], "workdays": workdays or []}), encoding="utf-8"
    )
    return path


@pytest.fixture(autouse=True)
def no_holidays_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HOLIDAYS_FILE_ENV, raising=False)


@pytest.fixture
def custom_calendar(tmp_path: Path) -> HolidayCalendar:
    """A 2027 fallback calendar: Wed 2027-03-03 closed, Sat 2027-03-06 a make-up workday."""
    return HolidayCalendar(write_calendar(tmp_path / "holidays.yml", ["2027-03-03"], ["2027-03-06"]))


@pytest.fixture
def unreadable_calendar(tmp_path: Path) -> HolidayCalendar:
    """A calendar whose file does not exist: any attempt to read it fails."""
    return HolidayCalendar(tmp_path / "missing.yml")


def weekend_workdays_2026() -> list[dt.date]:
    days = chinese_calendar.get_workdays(D(2026, 1, 1), D(2026, 12, 31), include_weekends=True)
    return [day for day in days if day.weekday() >= 5]


# --- years chinese-calendar knows ----------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2026, 10, 1), False),  # 国庆 (Thursday)
        (D(2026, 10, 7), False),  # last day of the National Day holiday (Wednesday)
        (D(2026, 10, 8), True),  # first working day after it
        (D(2026, 10, 10), True),  # make-up Saturday (调休补班)
        (D(2026, 2, 14), True),  # make-up Saturday before 春节
        (D(2026, 2, 16), False),  # 春节 holiday on a Monday
        (D(2026, 1, 1), False),  # 元旦
        (D(2026, 11, 25), True),  # an ordinary Wednesday
        (D(2026, 11, 28), False),  # an ordinary Saturday
        (D(2026, 11, 29), False),  # an ordinary Sunday
    ],
)
def test_2026_days_follow_the_official_arrangement(
    day: dt.date, expected: bool, unreadable_calendar: HolidayCalendar
) -> None:
    assert is_working_day(day, unreadable_calendar) is expected


def test_every_2026_make_up_weekend_day_is_a_working_day() -> None:
    make_up_days = weekend_workdays_2026()
    assert D(2026, 10, 10) in make_up_days
    assert all(is_working_day(day) for day in make_up_days)


def test_known_years_never_read_the_fallback_file_or_warn(unreadable_calendar: HolidayCalendar) -> None:
    assert is_working_day(D(2026, 6, 19), unreadable_calendar) is False  # 端午
    assert unreadable_calendar.warnings() == []


def test_a_datetime_counts_as_its_date() -> None:
    assert is_working_day(dt.datetime(2026, 10, 1, 9, 30)) is False


def test_non_dates_are_rejected() -> None:
    with pytest.raises(TypeError):
        is_working_day("2026-10-01")  # type: ignore[arg-type]


# --- the fallback for years chinese-calendar does not know -----------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2027, 3, 3), False),  # listed holiday on a Wednesday
        (D(2027, 3, 6), True),  # listed make-up Saturday
        (D(2027, 3, 4), True),  # ordinary Thursday
        (D(2027, 3, 7), False),  # ordinary Sunday
    ],
)
def test_2027_uses_the_calendar_file_given_to_the_constructor(
    day: dt.date, expected: bool, custom_calendar: HolidayCalendar
) -> None:
    assert is_working_day(day, custom_calendar) is expected


def test_fallback_warning_is_logged_once_per_year(
    custom_calendar: HolidayCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for day in (D(2027, 3, 3), D(2027, 3, 4), D(2027, 12, 31)):
            is_working_day(day, custom_calendar)
        is_working_day(D(2028, 5, 1), custom_calendar)

    messages = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(messages) == 2
    assert messages[0].startswith("chinese-calendar has no data for 2027; using ")
    assert messages[0].endswith("staff must verify")
    assert "no data for 2028" in messages[1]
    assert "lists no dates for 2028" in messages[1]
    assert custom_calendar.warnings() == messages


def test_calendar_warnings_checks_requested_years_up_front(custom_calendar: HolidayCalendar) -> None:
    warnings = calendar_warnings([2026, 2027], calendar=custom_calendar)
    assert len(warnings) == 1
    assert "no data for 2027" in warnings[0]
    assert calendar_warnings([2027], calendar=custom_calendar) == warnings


def test_default_calendar_warnings_include_years_looked_up() -> None:
    is_working_day(D(2027, 11, 3))
    assert any("no data for 2027" in message for message in calendar_warnings())


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2027, 1, 1), False),  # 元旦 (Friday)
        (D(2027, 2, 8), False),  # 春节 (Monday)
        (D(2027, 2, 12), False),  # 春节 (Friday)
        (D(2027, 2, 15), True),  # the Monday after
        (D(2027, 4, 5), False),  # 清明 (Monday)
        (D(2027, 5, 4), False),  # 劳动节 (Tuesday)
        (D(2027, 6, 9), False),  # 端午 (Wednesday)
        (D(2027, 9, 15), False),  # 中秋 (Wednesday)
        (D(2027, 10, 7), False),  # 国庆 (Thursday)
        (D(2027, 10, 8), True),  # the Friday after
    ],
)
def test_committed_holidays_file_is_honoured(day: dt.date, expected: bool) -> None:
    calendar = HolidayCalendar()
    assert is_working_day(day, calendar) is expected
    assert "common/holidays.yml" in calendar.warnings()[0]


def test_committed_holidays_file_only_lists_years_chinese_calendar_lacks() -> None:
    # A date for a covered year would be silently ignored, so it must not be there.
    calendar = HolidayCalendar(DEFAULT_HOLIDAYS_FILE)
    listed = calendar.holidays | calendar.workdays
    assert listed
    for day in listed:
        with pytest.raises(NotImplementedError):
            chinese_calendar.is_workday(day)
    assert all(day.weekday() >= 5 for day in calendar.workdays)


def test_environment_variable_chooses_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_calendar(tmp_path / "env.yml", holidays=["2027-03-04"])
    monkeypatch.setenv(HOLIDAYS_FILE_ENV, str(path))
    calendar = HolidayCalendar()
    assert is_working_day(D(2027, 3, 4), calendar) is False
    assert calendar.path == path


def test_constructor_path_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, custom_calendar: HolidayCalendar
) -> None:
    monkeypatch.setenv(HOLIDAYS_FILE_ENV, str(write_calendar(tmp_path / "env.yml", holidays=["2027-03-04"])))
    assert is_working_day(D(2027, 3, 4), custom_calendar) is True


def test_file_is_read_lazily(unreadable_calendar: HolidayCalendar) -> None:
    # Constructing it succeeded; only a lookup in an uncovered year needs the file.
    with pytest.raises(FileNotFoundError):
        is_working_day(D(2027, 3, 3), unreadable_calendar)


@pytest.mark.parametrize(
    "content",
    [
        "- 2027-01-01\n",  # not a mapping
        "holiday: [2027-01-01]\n",  # misspelt key
        "holidays: 2027-01-01\n",  # not a list
        "holidays: [2027-02-30]\n",  # not a calendar date
        "holidays: [tomorrow]\n",
        "holidays: [2027-01-01T09:00:00]\n",  # a timestamp, not a date
        "holidays: [2027-03-06]\nworkdays: ['2027-03-06']\n",  # both closed and open
    ],
)
def test_malformed_calendar_files_are_rejected(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yml"):
        is_working_day(D(2027, 3, 3), HolidayCalendar(path))


def test_empty_calendar_file_means_weekdays_only(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("", encoding="utf-8")
    calendar = HolidayCalendar(path)
    assert is_working_day(D(2027, 10, 1), calendar) is True
    assert is_working_day(D(2027, 10, 2), calendar) is False


