"""The staff notice when the booking horizon reaches a year chinese-calendar does not know."""

from __future__ import annotations

import datetime as dt

from common.calendar import calendar_notice, library_knows, uncovered_years


def test_the_library_knows_2026_but_not_2027():
    assert library_knows(2026) and not library_knows(2027)


def test_a_horizon_inside_a_known_year_needs_no_notice():
    assert uncovered_years(dt.date(2026, 6, 1), 30) == []
    assert calendar_notice(dt.date(2026, 6, 1), 30) is None


def test_a_horizon_reaching_into_2027_names_the_year_and_the_fallback_file():
    notice = calendar_notice(dt.date(2026, 12, 15), 30)
    assert notice is not None and "2027" in notice and "common/holidays.yml" in notice
    assert uncovered_years(dt.date(2026, 11, 30), 30) == []  # 30 days from today still end in 2026
    assert uncovered_years(dt.date(2026, 12, 2), 30) == [2027]
