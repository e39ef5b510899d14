"""Figures for the staff dashboard (Flask-free).

Conversations come from Rasa's SQL tracker store (table ``events`` of Rasa 3.6's
``SQLTrackerStore``), read read-only when that database exists; everything else comes
from the casework tables of the knowledge database. Days are city days (Asia/Shanghai).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from casework.models import Booking, BookingStatus, Case, HandoffEvent, Rating, UnansweredQuestion
from common.clock import CITY_TZ, city_today
from knowledge.models import Service, ServiceCenter
from knowledge.settings import REPO_DIR

log = logging.getLogger(__name__)

FALLBACK_ACTIONS = frozenset({"action_default_fallback", "action_two_stage_fallback", "utter_default"})
FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
FAQ_ACTION = "action_answer_faq"
MAX_EVENTS = 500_000


def tracker_db_url() -> str:
    """``TRACKER_DB_URL``, or the embedded default ``sqlite:///<repo>/var/tracker.db``."""
    return os.environ.get("TRACKER_DB_URL") or f"sqlite:///{REPO_DIR / 'var' / 'tracker.db'}"


@dataclass
class Dashboard:
    """Everything the dashboard shows.

    ``conversations`` and ``asked_services`` are None when there is no tracker data.
    """

    days: list[dt.date]
    conversations: dict[str, list[int]] | None = None
    asked_services: list[tuple[str, int]] | None = None
    answers: dict[str, list[int]] = field(default_factory=dict)
    answer_rate: float | None = None
    booking_days: list[dt.date] = field(default_factory=list)
    bookings: dict[str, list[int]] = field(default_factory=dict)
    complaints: list[tuple[str, int]] = field(default_factory=list)
    ratings: dict[int, int] = field(default_factory=dict)
    rating_average: float | None = None
    handoffs: list[int] = field(default_factory=list)
    open_unanswered: int = 0


def _day(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, CITY_TZ).date()


def _city_day(moment: dt.datetime) -> dt.date:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(CITY_TZ).date()


EventRow = tuple[str, str, float, str | None, str | None, str]


def read_tracker_events(url: str, since: dt.datetime) -> list[EventRow] | None:
    """Rows (sender_id, type_name, timestamp, intent_name, action_name, data) since ``since``, read-only.

    Returns None when the tracker database or its ``events`` table does not exist yet,
    or cannot be read (logged).
    """
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return None
        engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    else:
        engine = create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("events"):
                return None
            rows = conn.execute(
                text("SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events "
                     "WHERE timestamp >= :since AND type_name IN ('user', 'action', 'slot') "
                     "ORDER BY id LIMIT :limit"),
                {"since": since.timestamp(), "limit": MAX_EVENTS})
            return [tuple(r) for r in rows]
    except SQLAlchemyError as exc:
        log.warning("tracker store unreadable (%s); dashboard shows no conversation data", type(exc).__name__)
        return None
    finally:
        engine.dispose()


def build_dashboard(factory: sessionmaker[Session], tracker_url: str | None = None, days: int = 14,
                    today: dt.date | None = None) -> Dashboard:
    """Collect the dashboard's figures for the last ``days`` city days."""
    today = today or city_today()
    day_list = [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    index = {d: i for i, d in enumerate(day_list)}
    since = dt.datetime.combine(day_list[0], dt.time(), tzinfo=CITY_TZ)
    out = Dashboard(days=day_list)
    with factory() as s:
        service_names = dict(s.execute(select(Service.id, Service.name)).all())
        center_names = dict(s.execute(select(ServiceCenter.id, ServiceCenter.name)).all())
        unanswered = s.execute(select(UnansweredQuestion.at, UnansweredQuestion.reason)
                               .where(UnansweredQuestion.at >= since.astimezone(dt.UTC))).all()
        out.open_unanswered = int(s.scalar(select(func.count()).select_from(UnansweredQuestion)
                                           .where(UnansweredQuestion.status == "open")) or 0)
        booking_days = [today + dt.timedelta(days=n) for n in range(-6, 8)]
        out.booking_days = booking_days
        b_index = {d: i for i, d in enumerate(booking_days)}
        per_center: dict[str, list[int]] = defaultdict(lambda: [0] * len(booking_days))
        for center_id, day, n in s.execute(
                select(Booking.center_id, Booking.date, func.count())
                .where(Booking.date >= booking_days[0], Booking.date <= booking_days[-1],
                       Booking.status != BookingStatus.cancelled)
                .group_by(Booking.center_id, Booking.date)):
            per_center[center_names.get(center_id, center_id)][b_index[day]] += int(n)
        out.bookings = dict(sorted(per_center.items(), key=lambda kv: -sum(kv[1]))[:8])
        out.complaints = [(str(c), int(n)) for c, n in s.execute(
            select(Case.category, func.count()).where(Case.kind == "complaint")
            .group_by(Case.category).order_by(func.count().desc()))]
        scores = Counter({int(k): int(n) for k, n in s.execute(
            select(Rating.score, func.count()).group_by(Rating.score))})
        out.ratings = {k: scores.get(k, 0) for k in range(1, 6)}
        total = sum(out.ratings.values())
        out.rating_average = sum(k * n for k, n in out.ratings.items()) / total if total else None
        out.handoffs = [0] * days
        for (at,) in s.execute(select(HandoffEvent.at).where(HandoffEvent.at >= since.astimezone(dt.UTC))):
            d = _city_day(at)
            if d in index:
                out.handoffs[index[d]] += 1

    no_match, low = [0] * days, [0] * days
    for at, reason in unanswered:
        d = _city_day(at)
        if d in index:
            (low if reason == "low_confidence" else no_match)[index[d]] += 1
    out.answers = {"未答上": no_match, "低置信度": low}

    events = read_tracker_events(tracker_url or tracker_db_url(), since)
    if events is None:
        return out
    senders: dict[str, list[set[str]]] = defaultdict(lambda: [set() for _ in range(days)])
    asked: Counter[str] = Counter()
    faq_turns, fallbacks = [0] * days, [0] * days
    for sender, type_name, ts, intent, action, data in events:
        d = _day(float(ts))
        if d not in index:
            continue
        i = index[d]
        if type_name == "user":
            channel = _json(data).get("input_channel") or "未知"
            senders[str(channel)][i].add(sender)
            if intent in FALLBACK_INTENTS:
                fallbacks[i] += 1
        elif type_name == "action":
            if action == FAQ_ACTION:
                faq_turns[i] += 1
            elif action in FALLBACK_ACTIONS:
                fallbacks[i] += 1
        elif type_name == "slot":
            payload = _json(data)
            if payload.get("name") == "service" and payload.get("value"):
                asked[service_names.get(str(payload["value"]), str(payload["value"]))] += 1
    out.conversations = {ch: [len(x) for x in per_day] for ch, per_day in sorted(senders.items())}
    out.asked_services = asked.most_common(10)
    answered = [max(0, faq_turns[i] - no_match[i] - low[i]) for i in range(days)]
    out.answers = {"已回答": answered, "低置信度": low, "未答上": no_match, "兜底回复": fallbacks}
    handled = sum(answered) + sum(low)
    asked_total = handled + sum(no_match) + sum(fallbacks)
    out.answer_rate = handled / asked_total if asked_total else None
    return out


def _json(data: Any) -> dict[str, Any]:
    try:
        value = json.loads(data) if isinstance(data, str | bytes) else data
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
