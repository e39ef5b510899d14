"""Chinese date and time parsing for booking (actions.services.dates): plain pytest, fixed clocks."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions.services.dates import (
    MAX_DISTANCE_DAYS,
    TimeSpec,
    format_date_zh,
    format_time_zh,
    parse_date,
    parse_time,
    parse_when,
)

D = dt.date
SHANGHAI = "Asia/Shanghai"


def shanghai(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=ZoneInfo(SHANGHAI))


@pytest.fixture
def wednesday() -> dt.datetime:
    """2026-11-25 10:00 in Shanghai, a Wednesday."""
    return shanghai(2026, 11, 25)


@pytest.fixture
def late_december() -> dt.datetime:
    """2026-12-20 10:00 in Shanghai, a Sunday near the year's end."""
    return shanghai(2026, 12, 20)


# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("今天", D(2026, 11, 25)),
    ("今日", D(2026, 11, 25)),
    ("明天", D(2026, 11, 26)),
    ("明日", D(2026, 11, 26)),
    ("听日", D(2026, 11, 26)),
    ("聽日", D(2026, 11, 26)),
    ("后天", D(2026, 11, 27)),
    ("後天", D(2026, 11, 27)),
    ("后日", D(2026, 11, 27)),
    ("大后天", D(2026, 11, 28)),
    ("今晚", D(2026, 11, 25)),
    ("明早", D(2026, 11, 26)),
    ("三天后", D(2026, 11, 28)),
    ("3天之后", D(2026, 11, 28)),
    ("两周后", D(2026, 12, 9)),
    ("一个星期以后", D(2026, 12, 2)),
])
def test_relative_days(text: str, expected: dt.date, wednesday: dt.datetime) -> None:
    assert parse_date(text, wednesday) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("下周三", D(2026, 12, 2)),
    ("下星期三", D(2026, 12, 2)),
    ("下礼拜三", D(2026, 12, 2)),
    ("下个礼拜三", D(2026, 12, 2)),
    ("下週三", D(2026, 12, 2)),
    ("下個禮拜三", D(2026, 12, 2)),
    ("下周一", D(2026, 11, 30)),
    ("下星期日", D(2026, 12, 6)),
    ("下礼拜天", D(2026, 12, 6)),
    ("下下周三", D(2026, 12, 9)),
    ("这周五", D(2026, 11, 27)),
    ("本周五", D(2026, 11, 27)),
    ("这个星期五", D(2026, 11, 27)),
    ("今个礼拜五", D(2026, 11, 27)),
    ("这周一", D(2026, 11, 23)),  # already past: still this week's, the validator rejects it
    ("上周三", D(2026, 11, 18)),
    ("周五", D(2026, 11, 27)),
    ("星期五", D(2026, 11, 27)),
    ("礼拜五", D(2026, 11, 27)),
    ("星期三", D(2026, 12, 2)),  # today is Wednesday: a bare weekday means the next one
    ("周一", D(2026, 11, 30)),
    ("周日", D(2026, 11, 29)),
    ("星期天", D(2026, 11, 29)),
])
def test_weekdays_use_monday_based_weeks(text: str, expected: dt.date, wednesday: dt.datetime) -> None:
    assert parse_date(text, wednesday) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("十二月三号", D(2026, 12, 3)),
    ("十二月三日", D(2026, 12, 3)),
    ("12月3日", D(2026, 12, 3)),
    ("12月3号", D(2026, 12, 3)),
    ("12月3號", D(2026, 12, 3)),
    ("１２月３号", D(2026, 12, 3)),
    ("12/3", D(2026, 12, 3)),
    ("12-3", D(2026, 12, 3)),
    ("12.3", D(2026, 12, 3)),
    ("十二月二十五日", D(2026, 12, 25)),
    ("11月20日", D(2026, 11, 20)),  # 5 days past: still this year
    ("11月10日", D(2027, 11, 10)),  # more than a week past: next year
    ("明年1月5号", D(2027, 1, 5)),
    ("2026年12月3日", D(2026, 12, 3)),
    ("2026-12-03", D(2026, 12, 3)),
    ("2026/12/03", D(2026, 12, 3)),
    ("二零二六年十二月三日", D(2026, 12, 3)),
    ("2027年1月8号", D(2027, 1, 8)),
])
def test_calendar_dates(text: str, expected: dt.date, wednesday: dt.datetime) -> None:
    assert parse_date(text, wednesday) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("1月5号", D(2027, 1, 5)),
    ("一月五号", D(2027, 1, 5)),
    ("12月13号", D(2026, 12, 13)),  # 7 days past is within the grace week
    ("12月12号", D(2027, 12, 12)),
    ("12月25日", D(2026, 12, 25)),
    ("下周三", D(2026, 12, 23)),
    ("下个月5号", D(2027, 1, 5)),
    ("5号", D(2027, 1, 5)),
    ("后天", D(2026, 12, 22)),
])
def test_year_rollover(text: str, expected: dt.date, late_december: dt.datetime) -> None:
    assert parse_date(text, late_december) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("3号", D(2026, 12, 3)),
    ("三号", D(2026, 12, 3)),
    ("30号", D(2026, 11, 30)),
    ("25号", D(2026, 11, 25)),
    ("二十四号", D(2026, 12, 24)),
    ("下个月5号", D(2026, 12, 5)),
    ("下月五号", D(2026, 12, 5)),
    ("这个月28号", D(2026, 11, 28)),
])
def test_day_of_month_is_the_next_one(text: str, expected: dt.date, wednesday: dt.datetime) -> None:
    assert parse_date(text, wednesday) == expected


@pytest.mark.parametrize("text", [
    "", "   ", "😀", "你好", "明" * 10_000, "a" * 10_000, "2月30日", "13月1日", "2026年13月1日", "0月5日",
    "31号",  # November has 30 days
    "月底", "12月底", "下个月", "下周", "下下下周", "下下下周三", "大大后天", "初三", "农历十月初三", "正月十五",
    "2030年1月1日",  # further than anyone books
    "3号楼", "两个月后", "两点",
])
def test_no_date(text: str, wednesday: dt.datetime) -> None:
    assert parse_date(text, wednesday) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("我想预约下周三上午去办护照", D(2026, 12, 2)),
    ("请问听日下昼可唔可以去办身份证", D(2026, 11, 26)),
    ("我今天想约周五", D(2026, 11, 27)),
    ("今天星期三还有号吗", D(2026, 11, 25)),
    ("帮我约12月3号下午两点", D(2026, 12, 3)),
    ("周三两点可以吗", D(2026, 12, 2)),
])
def test_dates_inside_sentences(text: str, expected: dt.date, wednesday: dt.datetime) -> None:
    assert parse_date(text, wednesday) == expected


def test_naive_now_is_read_as_shanghai() -> None:
    assert parse_date("明天", dt.datetime(2026, 11, 25, 23, 30)) == D(2026, 11, 26)


def test_aware_now_in_another_zone_is_converted_to_shanghai() -> None:
    # 20:00 UTC on the 24th is already 04:00 on the 25th in Shanghai.
    now = dt.datetime(2026, 11, 24, 20, 0, tzinfo=dt.timezone.utc)
    assert parse_date("明天", now) == D(2026, 11, 26)


# --- times ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "period"), [
    ("上午", "morning"), ("早上", "morning"), ("朝早", "morning"), ("上昼", "morning"), ("上晝", "morning"),
    ("中午", "noon"),
    ("下午", "afternoon"), ("晏昼", "afternoon"), ("晏晝", "afternoon"), ("下昼", "afternoon"),
    ("晚上", "evening"), ("夜晚", "evening"),
])
def test_parts_of_the_day(text: str, period: str) -> None:
    assert parse_time(text) == TimeSpec(period=period)


@pytest.mark.parametrize(("text", "expected"), [
    ("两点", TimeSpec(14, 0)),
    ("2点", TimeSpec(14, 0)),
    ("二点", TimeSpec(14, 0)),
    ("兩點", TimeSpec(14, 0)),
    ("一点", TimeSpec(13, 0)),
    ("六点", TimeSpec(18, 0)),
    ("七点", TimeSpec(7, 0)),
    ("十点半", TimeSpec(10, 30)),
    ("九点一刻", TimeSpec(9, 15)),
    ("九点三刻", TimeSpec(9, 45)),
    ("十点三十分", TimeSpec(10, 30)),
    ("十点三十", TimeSpec(10, 30)),
    ("十点零五", TimeSpec(10, 5)),
    ("10点30分", TimeSpec(10, 30)),
    ("10:30", TimeSpec(10, 30)),
    ("10：30", TimeSpec(10, 30)),
    ("１０：３０", TimeSpec(10, 30)),
    ("14点", TimeSpec(14, 0)),
    ("14:00", TimeSpec(14, 0)),
    ("十二点", TimeSpec(12, 0)),
    ("十点钟", TimeSpec(10, 0)),
    ("两点三", TimeSpec(14, 15)),  # Cantonese: three five-minute marks
    ("下午两点", TimeSpec(14, 0, "afternoon")),
    ("下午2点半", TimeSpec(14, 30, "afternoon")),
    ("下午1点", TimeSpec(13, 0, "afternoon")),
    ("晏昼三点", TimeSpec(15, 0, "afternoon")),
    ("上午十一点", TimeSpec(11, 0, "morning")),
    ("上午9点", TimeSpec(9, 0, "morning")),
    ("朝早十点", TimeSpec(10, 0, "morning")),
    ("中午十二点", TimeSpec(12, 0, "noon")),
    ("中午一点", TimeSpec(13, 0, "noon")),
    ("晚上7点", TimeSpec(19, 0, "evening")),
    ("下周三上午十点", TimeSpec(10, 0, "morning")),
    ("周三两点可以吗", TimeSpec(14, 0)),
    ("下午两点或者10:30", TimeSpec(14, 0, "afternoon")),  # the first time said wins
    ("我想约明天下午两点半去办护照", TimeSpec(14, 30, "afternoon")),
])
def test_clock_times(text: str, expected: TimeSpec) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", [
    "", "😀", "你好", "快一点", "早一点", "一点点", "两小时", "24点", "25:00", "10:61", "三四点", "x" * 10_000,
])
def test_no_time(text: str) -> None:
    assert parse_time(text) is None


def test_time_range_falls_back_to_the_part_of_the_day() -> None:
    assert parse_time("下午三四点") == TimeSpec(period="afternoon")


def test_timespec_as_time() -> None:
    assert TimeSpec(14, 30).as_time() == dt.time(14, 30)
    assert TimeSpec(period="morning").as_time() is None


@pytest.mark.parametrize("kwargs", [{"hour": 24}, {"hour": 9, "minute": 60}, {"period": "dawn"}])
def test_timespec_rejects_impossible_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TimeSpec(**kwargs)  # type: ignore[arg-type]


# --- both -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("我想预约下周三上午去办护照", (D(2026, 12, 2), TimeSpec(period="morning"))),
    ("听日晏昼两点", (D(2026, 11, 26), TimeSpec(14, 0, "afternoon"))),
    ("2026-12-03 10:30", (D(2026, 12, 3), TimeSpec(10, 30))),
    ("12月3号下午2点半", (D(2026, 12, 3), TimeSpec(14, 30, "afternoon"))),
    ("後天上午九點", (D(2026, 11, 27), TimeSpec(9, 0, "morning"))),
    ("今晚", (D(2026, 11, 25), TimeSpec(period="evening"))),
    ("我想办护照", (None, None)),
    ("下午", (None, TimeSpec(period="afternoon"))),
])
def test_parse_when(text: str, expected: tuple[dt.date | None, TimeSpec | None], wednesday: dt.datetime) -> None:
    assert parse_when(text, wednesday) == expected


# --- formatting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (D(2026, 12, 3), "12月3日（星期四）"),
    (D(2026, 11, 29), "11月29日（星期日）"),
    (D(2027, 1, 4), "1月4日（星期一）"),
])
def test_format_date_zh(value: dt.date, expected: str) -> None:
    assert format_date_zh(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (dt.time(14, 30), "下午2:30"),
    (dt.time(9, 0), "上午9:00"),
    (dt.time(12, 15), "中午12:15"),
    (dt.time(19, 5), "晚上7:05"),
])
def test_format_time_zh(value: dt.time, expected: str) -> None:
    assert format_time_zh(value) == expected


def test_formatted_date_parses_back(wednesday: dt.datetime) -> None:
    day = D(2026, 12, 3)
    assert parse_date(format_date_zh(day), wednesday) == day


# --- properties -----------------------------------------------------------------------------------

# Fragments that reach every rule, mixed with arbitrary text so the patterns meet odd neighbours.
FRAGMENTS = [
    "今天", "明天", "后天", "大", "下", "上", "这个", "周", "星期", "礼拜", "一", "二", "两", "三", "十", "廿", "零",
    "月", "号", "日", "年", "点", "半", "刻", "分", "上午", "下午", "晚上", "初", "农历", "1", "2", "9", "12", "31",
    "2026", "-", "/", ".", ":", " ", "号楼", "个字",
]
texts = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=2)), max_size=12).map("".join),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, now=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                                    timezones=st.just(ZoneInfo(SHANGHAI))))
def test_parse_when_never_raises_and_stays_near_now(text: str, now: dt.datetime) -> None:
    found, time_spec = parse_when(text, now)
    if found is not None:
        assert abs((found - now.date()).days) <= MAX_DISTANCE_DAYS
    assert time_spec is None or isinstance(time_spec, TimeSpec)


@settings(max_examples=100, deadline=None)
@given(text=texts, now=st.datetimes())
def test_parse_date_never_raises_at_the_edges_of_the_calendar(text: str, now: dt.datetime) -> None:
    parse_date(text, now)
