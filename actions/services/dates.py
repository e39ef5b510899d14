"""Chinese date and time expressions for appointment booking, resolved against a given "now".

Everything is relative to ``now`` in Asia/Shanghai and nothing reads the clock, so callers (and tests)
decide what "today" is. Input may be Simplified or Traditional, full-width or half-width, Mandarin or
Cantonese-flavoured ("听日", "下个礼拜三", "朝早", "晏昼"). Lunar dates ("初三", "农历", "正月") are out of
scope and yield ``None`` rather than a wrong Gregorian date.

The parsers never raise on citizen text: anything unrecognised, contradictory or impossible
("2月30日", "13月1日", "大大后天", "下下下周三") gives ``None``. A date further than
:data:`MAX_DISTANCE_DAYS` from today is also ``None``; nobody books an office visit that far off, and
such a value is almost always a typo.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass

import cn2an

from common.clock import CITY_TZ

__all__ = [
    "MAX_DISTANCE_DAYS",
    "PERIODS",
    "TimeSpec",
    "format_date_zh",
    "format_time_zh",
    "parse_date",
    "parse_time",
    "parse_when",
]

MAX_DISTANCE_DAYS = 400
# A month-day without a year means this year unless it is more than this many days past.
PAST_GRACE_DAYS = 7
PERIODS = ("morning", "noon", "afternoon", "evening")

# Traditional and variant characters this module needs to see in their Simplified form. Callers
# normalise whole messages; this only keeps the parser safe when they have not.
_CHAR_MAP = str.maketrans({
    "號": "号", "點": "点", "週": "周", "後": "后", "禮": "礼", "個": "个", "這": "这", "聽": "听",
    "晝": "昼", "兩": "两", "農": "农", "曆": "历", "歷": "历", "陰": "阴", "臘": "腊", "鐘": "钟",
    "時": "时", "裡": "里", "間": "间", "〇": "零",
})

# --- numerals -----------------------------------------------------------------------------------

_CN_DIGITS = "零一二两三四五六七八九"
_NUM = rf"(?:[0-9]{{1,2}}|[{_CN_DIGITS}十廿]{{1,3}})"
# Well-formed Chinese numerals from 0 to 99; anything else ("三两", "一二") is refused before cn2an,
# which would otherwise read "三两" as 32.
_WELL_FORMED_CN = re.compile(rf"[{_CN_DIGITS}]|[一二两三四五六七八九]?十[一二三四五六七八九]?|廿[一二三四五六七八九]?"
                             rf"|零[一二三四五六七八九]")
_CN_YEAR = re.compile(r"[零一二三四五六七八九]{4}")


def _to_int(token: str) -> int | None:
    """The value of an Arabic or Chinese numeral token, or None when it is not a plain number."""
    if token.isascii() and token.isdigit():
        return int(token)
    if not (_WELL_FORMED_CN.fullmatch(token) or _CN_YEAR.fullmatch(token)):
        return None
    try:
        value = cn2an.cn2an(token, "smart")
    except ValueError:
        return None
    return int(value) if float(value).is_integer() else None


# --- normalisation ------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    """NFKC (full-width digits and colons), Simplified forms of the few characters we match, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    # Collapsed whitespace keeps the patterns free of unbounded ``\s*`` runs.
    return re.sub(r"\s+", " ", text)


def _today(now: datetime.datetime) -> datetime.date:
    """Today's date in Asia/Shanghai; a naive ``now`` is taken to be Shanghai time already."""
    local = now.replace(tzinfo=CITY_TZ) if now.tzinfo is None else now.astimezone(CITY_TZ)
    return local.date()


def _make_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _add_months(today: datetime.date, months: int, day: int) -> datetime.date | None:
    index = today.year * 12 + today.month - 1 + months
    return _make_date(index // 12, index % 12 + 1, day)


# --- date patterns --------------------------------------------------------------------------------

_LUNAR = re.compile(r"农历|阴历|旧历|正月|腊月|冬月|除夕|年三十|初[一二三四五六七八九十]")

_FULL_DATE_CN = re.compile(
    rf"(?<![0-9])(?P<y>[0-9]{{4}}|[零一二三四五六七八九]{{4}}) ?年"
    rf" ?(?P<m>{_NUM}) ?月份? ?(?P<d>{_NUM}) ?[日号]?(?![0-9点时:])"
)
_FULL_DATE_NUM = re.compile(r"(?<![0-9.:/-])(?P<y>[0-9]{4})[-/.](?P<m>[0-9]{1,2})[-/.](?P<d>[0-9]{1,2})(?![0-9.:/-])")
_MONTH_DAY_CN = re.compile(
    rf"(?P<yw>今年|明年)?(?<![0-9{_CN_DIGITS}十])(?P<m>{_NUM}) ?月份? ?(?P<d>{_NUM}) ?[日号]?(?![0-9点时:分])"
)
_MONTH_DAY_NUM = re.compile(r"(?<![0-9.:/-])(?P<m>[0-9]{1,2})[-/.](?P<d>[0-9]{1,2})(?![0-9.:/-]|点|时|小时)")
_RELATIVE_MONTH_DAY = re.compile(rf"(?P<which>下个?月|这个?月|本月|今个月|呢个月)(?P<d>{_NUM}) ?[日号]")
_WEEKDAY = re.compile(
    r"(?<![上下这本个今呢每])(?P<prefix>下下个?|下个?|这个?|本|今个?|呢个|上个?)?"
    r"(?P<unit>周|星期|礼拜)(?P<day>[一二三四五六日天1-7])"
)
_RELATIVE_DAY = re.compile(
    r"(?<!大)(?P<w>大后天|大后日)|(?<![大后])(?P<w2>后天|后日)"
    r"|(?P<w3>今天|今日|今儿|今早|今朝|今晚|明天|明日|明儿|明早|明朝|明晚|听日|听朝|听晚)"
)
_DAYS_LATER = re.compile(rf"(?P<n>{_NUM}) ?(?P<unit>天|日|个?(?:周|星期|礼拜))(?:之?后|以后)")
_DAY_ONLY = re.compile(
    rf"(?<![0-9{_CN_DIGITS}十月./-])(?P<d>{_NUM}) ?(?:号(?![楼线窗柜门台院室码])|日(?![内后以之前起]))"
)

_WEEKDAY_INDEX = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "7": 6}
_RELATIVE_OFFSET = {
    "今天": 0, "今日": 0, "今儿": 0, "今早": 0, "今朝": 0, "今晚": 0,
    "明天": 1, "明日": 1, "明儿": 1, "明早": 1, "明朝": 1, "明晚": 1, "听日": 1, "听朝": 1, "听晚": 1,
    "后天": 2, "后日": 2, "大后天": 3, "大后日": 3,
}


def _weekday_index(char: str) -> int:
    if char.isdigit() and char != "7":
        return int(char) - 1
    return _WEEKDAY_INDEX[char]


def _guess_year(today: datetime.date, month: int, day: int) -> datetime.date | None:
    """This year's month-day, or next year's when this year's is more than a week past."""
    candidate = _make_date(today.year, month, day)
    if candidate is not None and candidate < today - datetime.timedelta(days=PAST_GRACE_DAYS):
        candidate = _make_date(today.year + 1, month, day)
    return candidate


def _explicit_date(text: str, today: datetime.date) -> tuple[bool, datetime.date | None]:
    """Dates that name a day of the year. Returns (matched, date); matched with None means impossible."""
    for pattern in (_FULL_DATE_CN, _FULL_DATE_NUM):
        match = pattern.search(text)
        if match:
            year, month, day = (_to_int(match[g]) for g in ("y", "m", "d"))
            if year is None or month is None or day is None:
                return True, None
            return True, _make_date(year, month, day)
    for pattern in (_MONTH_DAY_CN, _MONTH_DAY_NUM):
        match = pattern.search(text)
        if match:
            month, day = _to_int(match["m"]), _to_int(match["d"])
            if month is None or day is None:
                return True, None
            which = match.groupdict().get("yw")
            if which:
                return True, _make_date(today.year + (which == "明年"), month, day)
            return True, _guess_year(today, month, day)
    match = _RELATIVE_MONTH_DAY.search(text)
    if match:
        day = _to_int(match["d"])
        if day is None:
            return True, None
        return True, _add_months(today, 1 if match["which"].startswith("下") else 0, day)
    return False, None


def _week_date(text: str, today: datetime.date) -> datetime.date | None:
    match = _WEEKDAY.search(text)
    if not match:
        return None
    relative = _RELATIVE_DAY.search(text, 0, match.start())
    if not match["prefix"] and relative and not text[relative.end():match.start()].strip(" ,是"):
        # "今天星期三": the weekday only describes the relative day said just before it.
        return None
    target = _weekday_index(match["day"])
    prefix = match["prefix"] or ""
    monday = today - datetime.timedelta(days=today.weekday())
    if not prefix:
        # A bare weekday is the next one to come; today only when the citizen says 今天.
        ahead = (target - today.weekday()) % 7 or 7
        return today + datetime.timedelta(days=ahead)
    weeks = {"下下": 2, "下": 1, "上": -1}.get(prefix.rstrip("个"), 0)
    return monday + datetime.timedelta(weeks=weeks, days=target)


def _relative_day(text: str, today: datetime.date) -> datetime.date | None:
    """今天/明天/后天/大后天 and "三天后" / "两周后", whichever comes first."""
    word = _RELATIVE_DAY.search(text)
    later = _DAYS_LATER.search(text)
    if later and (word is None or later.start() < word.start()):
        count = _to_int(later["n"])
        if count is None:
            return None
        return today + datetime.timedelta(days=count if later["unit"] in ("天", "日") else 7 * count)
    if word is None:
        return None
    return today + datetime.timedelta(days=_RELATIVE_OFFSET[word["w"] or word["w2"] or word["w3"]])


def _day_of_month(text: str, today: datetime.date) -> tuple[bool, datetime.date | None]:
    match = _DAY_ONLY.search(text)
    if not match:
        return False, None
    day = _to_int(match["d"])
    if day is None or not 1 <= day <= 31:
        return True, None
    # The next such day: this month unless it is already past.
    return True, _add_months(today, 0 if day >= today.day else 1, day)


def _within_reach(candidate: datetime.date | None, today: datetime.date) -> datetime.date | None:
    if candidate is None or abs((candidate - today).days) > MAX_DISTANCE_DAYS:
        return None
    return candidate


def parse_date(text: str, now: datetime.datetime) -> datetime.date | None:
    """The calendar date a Chinese expression names, relative to ``now``.

    The most specific expression wins: a full date, then a month and day, then "next month's 5th",
    then a weekday, then 今天/明天/后天/大后天 or "三天后"/"两周后", then a bare day of the month
    ("3号", the next such day). A weekday with 这/本/今个 is this week's even when already past (the
    booking validator says so to the citizen); without a prefix it is the next such day after today.
    Weeks start on Monday.

    Args:
        text: a citizen's message, possibly a long sentence.
        now: the reference time; timezone-aware, or naive meaning Asia/Shanghai.

    Returns:
        The date, or None when there is none, it is lunar, impossible, or more than
        :data:`MAX_DISTANCE_DAYS` from today.
    """
    if not text:
        return None
    norm = _normalise(text)
    if _LUNAR.search(norm):
        return None
    try:
        today = _today(now)
        return _within_reach(_resolve_date(norm, today), today)
    except OverflowError:  # a "now" at the very edge of the calendar; never one a caller passes
        return None


def _resolve_date(norm: str, today: datetime.date) -> datetime.date | None:
    """The date in normalised text, most specific expression first."""
    matched, found = _explicit_date(norm, today)
    if matched:
        return found
    found = _week_date(norm, today) or _relative_day(norm, today)
    if found is None:
        _, found = _day_of_month(norm, today)
    return found


# --- time -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeSpec:
    """A wanted time: an exact clock time, or a part of the day.

    ``hour`` is None when the citizen named only a part of the day ("下午"); otherwise it is the
    24-hour clock hour after 12-hour disambiguation. ``period`` is the part of the day the citizen
    named, if any: one of :data:`PERIODS`.
    """

    hour: int | None = None
    minute: int = 0
    period: str | None = None

    def __post_init__(self) -> None:
        if self.hour is not None and not 0 <= self.hour <= 23:
            raise ValueError(f"hour out of range: {self.hour}")
        if not 0 <= self.minute <= 59:
            raise ValueError(f"minute out of range: {self.minute}")
        if self.period is not None and self.period not in PERIODS:
            raise ValueError(f"unknown period: {self.period}")

    def as_time(self) -> datetime.time | None:
        """The exact clock time, or None for a part of the day."""
        return None if self.hour is None else datetime.time(self.hour, self.minute)


_PERIOD_PATTERNS = (
    ("morning", r"上午|早上|早晨|清早|朝早|上昼|今早|明早|今朝|明朝|听朝"),
    ("noon", r"中午|正午|晌午|午间"),
    ("afternoon", r"下午|晏昼|下昼|午后"),
    ("evening", r"晚上|夜晚|夜里|夜间|晚间|傍晚|今晚|明晚|听晚"),
)
_PERIOD = re.compile("|".join(f"(?P<{name}>{words})" for name, words in _PERIOD_PATTERNS))
_COLON_TIME = re.compile(r"(?<![0-9:])(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})(?![0-9:])")
_CLOCK_TIME = re.compile(
    rf"(?P<h>{_NUM}) ?(?:点(?![点儿])|时(?!间|候))钟?"
    rf"(?:(?P<half>半)|(?P<quarter>[一三])刻|(?P<zi>{_NUM})个字|过?(?P<m>{_NUM}) ?(?P<fen>分)?(?![号日月个天年]))?"
)
# "早一点" / "快一点" mean "a bit earlier / faster", not one o'clock.
_NOT_ONE_OCLOCK = re.compile(r"[快早晚慢多少大小好有差高低近远迟]$")
# Weekday and lunar day expressions end in a numeral that would run into a following hour ("周三两点").
_DATE_NUMERAL_TAIL = re.compile(r"(?:周|星期|礼拜)[一二三四五六日天1-7]|初[一二三四五六七八九十]")


def _to_24h(hour: int, period: str | None) -> int | None:
    """The 24-hour clock hour for an hour said with an optional part of the day."""
    if not 0 <= hour <= 23:
        return None
    if hour == 0 or hour >= 13:
        return hour
    if period == "morning":
        return hour
    if period == "noon":
        return hour if hour >= 11 else hour + 12
    if period == "afternoon":
        return hour if hour == 12 else hour + 12
    if period == "evening":
        return 0 if hour == 12 else hour + 12
    # No part of the day: offices open in the daytime, so 1-6 is afternoon and 7-11 morning.
    return hour + 12 if hour <= 6 else hour


def _period_before(text: str, position: int) -> str | None:
    """The part of the day named last before ``position``."""
    found = None
    for match in _PERIOD.finditer(text, 0, position):
        found = match.lastgroup
    return found


def _clock(text: str) -> tuple[int, int, int] | None:
    """(hour as said, minute, position) of the first clock time in ``text``."""
    found: list[tuple[int, int, int]] = []
    for match in _COLON_TIME.finditer(text):
        hour, minute = int(match["h"]), int(match["m"])
        if hour <= 23 and minute <= 59:
            found.append((match.start(), hour, minute))
            break
    for match in _CLOCK_TIME.finditer(text):
        said = _to_int(match["h"])
        if said is None or (match["h"] == "一" and _NOT_ONE_OCLOCK.search(text, 0, match.start())):
            continue
        minutes = _minute(match)
        if minutes is not None and minutes <= 59:
            found.append((match.start(), said, minutes))
            break
    if not found:
        return None
    position, hour, minute = min(found)
    return hour, minute, position


def _minute(match: re.Match[str]) -> int | None:
    if match["half"]:
        return 30
    if match["quarter"]:
        return 15 if match["quarter"] == "一" else 45
    if match["zi"]:
        zi = _to_int(match["zi"])
        return None if zi is None else zi * 5
    if match["m"] is None:
        return 0
    value = _to_int(match["m"])
    if value is None:
        return None
    # Cantonese "两点三" is 2:15 (three five-minute marks); "两点零三", "两点三分" and "2点3" are literal.
    if not match["fen"] and len(match["m"]) == 1 and match["m"] in "一二三四五六七八九":
        return value * 5
    return value


def parse_time(text: str) -> TimeSpec | None:
    """The wanted time of day in a Chinese expression.

    An exact time ("两点", "十点半", "九点一刻", "10:30", "下午2点半", "晚上7点") becomes a 24-hour
    hour and minute; an hour from 1 to 6 said without a part of the day is taken as afternoon, 7 to 11
    as morning. A part of the day alone ("上午", "晏昼") gives ``TimeSpec(period=...)``.

    Args:
        text: a citizen's message, possibly a long sentence.

    Returns:
        The time, or None when the text names neither a clock time nor a part of the day.
    """
    if not text:
        return None
    norm = _DATE_NUMERAL_TAIL.sub(lambda m: " " * len(m[0]), _normalise(text))
    clock = _clock(norm)
    if clock is None:
        match = _PERIOD.search(norm)
        return TimeSpec(period=match.lastgroup) if match else None
    hour, minute, position = clock
    period = _period_before(norm, position)
    hour24 = _to_24h(hour, period)
    if hour24 is None:
        return None
    return TimeSpec(hour=hour24, minute=minute, period=period)


def parse_when(text: str, now: datetime.datetime) -> tuple[datetime.date | None, TimeSpec | None]:
    """Both the date and the time of day in one message, e.g. "我想预约下周三上午去办护照".

    Args:
        text: a citizen's message.
        now: the reference time; timezone-aware, or naive meaning Asia/Shanghai.

    Returns:
        ``(parse_date(text, now), parse_time(text))``; either may be None.
    """
    return parse_date(text, now), parse_time(text)


# --- formatting -----------------------------------------------------------------------------------

_WEEKDAY_NAMES = "一二三四五六日"


def format_date_zh(d: datetime.date) -> str:
    """A date as citizens read it: ``12月3日（星期四）``."""
    return f"{d.month}月{d.day}日（星期{_WEEKDAY_NAMES[d.weekday()]}）"


def format_time_zh(t: datetime.time) -> str:
    """A clock time on the 12-hour clock with its part of the day: ``下午2:30``, ``上午9:00``."""
    if t.hour < 6:
        period = "凌晨"
    elif t.hour < 12:
        period = "上午"
    elif t.hour == 12:
        period = "中午"
    elif t.hour < 18:
        period = "下午"
    else:
        period = "晚上"
    hour = t.hour if t.hour <= 12 else t.hour - 12
    return f"{period}{hour}:{t.minute:02d}"
