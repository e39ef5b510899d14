"""Live hand-off to a human agent (转人工): the queue, who owns a conversation, its messages, outcomes.

A citizen who accepts a human on web chat, SMS or Telegram gets one *live session*:
``waiting`` in the queue, ``active`` once an agent takes it, then ``ended`` (the agent
finished or handed the conversation back to the bot), ``expired`` (nobody took it in
time, or the desk closed) or ``abandoned``. The state lives in the database only, so
every app-server and action-server process sees the same queue.

Two database rules carry the concurrency:

* a partial unique index allows one *open* (waiting or active) session per conversation;
* :class:`LiveOwnership` has the session id as its primary key, so one conversation is
  owned by one agent at a time: of two agents taking it at once, the second INSERT fails
  in the database and that agent is told someone else was quicker.

The desk's hours and waits are the committed ``agent_desk.yml`` beside this module
(``AGENT_DESK_FILE`` names another one).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from common.calendar import is_working_day
from common.clock import CITY_TZ
from knowledge.db import SessionBacked, session_scope
from knowledge.models import Base, utcnow

DESK_FILE = Path(__file__).resolve().parent / "agent_desk.yml"
OPEN_STATES = ("waiting", "active")
_OPEN_SQL = text("state IN ('waiting', 'active')")
_HOURS_RE = re.compile(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-4]):([0-5]\d)\s*")


class LiveSession(Base):
    """One citizen's wait for, and conversation with, a human agent.

    ``conversation_id`` is the core's sender id (``webchat-…``, ``sms-<hash>``,
    ``telegram-<hash>``); ``address_sealed`` is the sealed raw address a reply needs
    (phone number, Telegram chat id), empty for web chat. ``summary`` is what the bot
    knew at hand-off time (intent, service, slots, last messages).
    """

    __tablename__ = "live_sessions"
    __table_args__ = (
        Index("uq_live_sessions_open", "conversation_id", unique=True,
              sqlite_where=_OPEN_SQL, postgresql_where=_OPEN_SQL),
        Index("ix_live_sessions_state_queued", "state", "queued_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    sender_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    agent: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(32), default="")
    notified: Mapped[str] = mapped_column(String(16), default="")
    address_sealed: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LiveOwnership(Base):
    """The agent who owns an active session: the primary key makes ownership exclusive."""

    __tablename__ = "live_ownerships"

    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True)
    agent: Mapped[str] = mapped_column(String(64))
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LiveMessage(Base):
    """One message of a live session: from the citizen, the agent, or the bot/desk to the citizen.

    ``delivered_at`` is set once a message to a polling channel (web chat) was fetched.
    """

    __tablename__ = "live_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # citizen | agent | bot
    agent: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class DeskSettings:
    """When agents work and how long a citizen waits (``agent_desk.yml``)."""

    start: dt.time
    end: dt.time
    every_day: bool
    max_wait_s: int
    handle_s: int

    @classmethod
    def load(cls, path: Path | None = None) -> DeskSettings:
        """Read the desk file (``AGENT_DESK_FILE`` or the committed one).

        Raises:
            ValueError: naming what is wrong in the file.
        """
        path = path or Path(os.environ.get("AGENT_DESK_FILE") or DESK_FILE)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        m = _HOURS_RE.fullmatch(str(data.get("hours", "")))
        if not m:
            raise ValueError(f"{path}: hours must look like 08:30-18:00")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        end = dt.time(23, 59, 59) if h2 == 24 else dt.time(h2, m2)
        if dt.time(h1, m1) >= end:
            raise ValueError(f"{path}: hours must start before they end")
        days = str(data.get("days", "working"))
        if days not in ("working", "all"):
            raise ValueError(f"{path}: days must be 'working' or 'all'")
        max_wait, handle = data.get("max_wait_s", 300), data.get("handle_s", 240)
        if not isinstance(max_wait, int) or not isinstance(handle, int) or max_wait < 1 or handle < 1:
            raise ValueError(f"{path}: max_wait_s and handle_s must be positive integers")
        return cls(dt.time(h1, m1), end, days == "all", max_wait, handle)

    def is_open(self, when: dt.datetime) -> bool:
        """Whether agents are on duty at ``when`` (aware)."""
        local = when.astimezone(CITY_TZ)
        return (self.every_day or is_working_day(local.date())) and self.start <= local.time() < self.end


@dataclass(frozen=True)
class QueueView:
    """A session as the agent queue shows it (detached from the database session)."""

    id: int
    conversation_id: str
    channel: str
    reason: str
    state: str
    agent: str
    queued_at: dt.datetime
    summary: dict[str, Any]


class TakeRefused(Exception):
    """The session is no longer waiting, or another agent owns it already."""


class DeliveryFailed(Exception):
    """A reply could not be sent on the citizen's channel (no sender configured, vendor refused)."""


class HandoffRepository(SessionBacked):
    """The agent queue on the shared database (see the module docstring for its rules)."""

    def enqueue(self, *, conversation_id: str, channel: str, sender_hash: str, reason: str,
                summary: dict[str, Any]) -> tuple[LiveSession, int]:
        """Put a conversation in the queue (or return its open session) and its place in line."""
        try:
            with session_scope(self.factory) as s:
                row = LiveSession(conversation_id=conversation_id, channel=channel, sender_hash=sender_hash,
                                  reason=reason, summary=summary, state="waiting", queued_at=utcnow())
                s.add(row)
                s.flush()
        except IntegrityError:
            found = self.open_session(conversation_id)
            if found is None:
                raise
            row = found
        return row, self.position(row.id)

    def position(self, session_id: int) -> int:
        """1-based place in the queue of a waiting session (0 when it is not waiting)."""
        with session_scope(self.factory) as s:
            row = s.get(LiveSession, session_id)
            if row is None or row.state != "waiting":
                return 0
            return int(s.scalar(select(func.count()).select_from(LiveSession).where(
                LiveSession.state == "waiting", LiveSession.queued_at <= row.queued_at)) or 0)

    def get(self, session_id: int) -> LiveSession | None:
        """One session by id."""
        with session_scope(self.factory) as s:
            return s.get(LiveSession, session_id)

    def open_session(self, conversation_id: str) -> LiveSession | None:
        """The waiting or active session of a conversation, if any."""
        with session_scope(self.factory) as s:
            return s.scalar(select(LiveSession).where(LiveSession.conversation_id == conversation_id,
                                                      LiveSession.state.in_(OPEN_STATES)))

    def set_address(self, session_id: int, sealed: str) -> None:
        """Remember the sealed address replies to this session need."""
        with session_scope(self.factory) as s:
            s.execute(update(LiveSession).where(LiveSession.id == session_id).values(address_sealed=sealed))

    def claim_notice(self, session_id: int, state: str) -> bool:
        """True exactly once per (session, state): whether the citizen still has to be told ``state``."""
        with session_scope(self.factory) as s:
            res = s.execute(update(LiveSession).where(LiveSession.id == session_id,
                                                      LiveSession.notified != state).values(notified=state))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def add_message(self, session_id: int, author: str, body: str, *, agent: str = "",
                    payload: dict[str, Any] | None = None, delivered: bool = False) -> LiveMessage:
        """Append a message to the session's transcript."""
        with session_scope(self.factory) as s:
            msg = LiveMessage(session_id=session_id, author=author, agent=agent, text=body, payload=payload or {},
                              created_at=utcnow(), delivered_at=utcnow() if delivered else None)
            s.add(msg)
            s.flush()
            return msg

    def messages(self, session_id: int, after_id: int = 0) -> list[LiveMessage]:
        """The transcript of a session after message ``after_id``, oldest first."""
        with session_scope(self.factory) as s:
            return list(s.scalars(select(LiveMessage).where(LiveMessage.session_id == session_id,
                                                            LiveMessage.id > after_id).order_by(LiveMessage.id)))

    def take_undelivered(self, conversation_id: str) -> list[LiveMessage]:
        """Messages to the citizen of a polling channel not fetched yet; marks them fetched."""
        with session_scope(self.factory) as s:
            rows = list(s.scalars(
                select(LiveMessage).join(LiveSession, LiveSession.id == LiveMessage.session_id)
                .where(LiveSession.conversation_id == conversation_id, LiveMessage.author != "citizen",
                       LiveMessage.delivered_at.is_(None)).order_by(LiveMessage.id)))
            taken = []
            for row in rows:
                res = s.execute(update(LiveMessage).where(LiveMessage.id == row.id, LiveMessage.delivered_at.is_(None))
                                .values(delivered_at=utcnow()))
                if res.rowcount:  # type: ignore[attr-defined]
                    taken.append(row)
            return taken

    def take(self, session_id: int, agent: str) -> LiveSession:
        """Give a waiting session to ``agent``.

        Raises:
            TakeRefused: it is not waiting any more or another agent took it first.
        """
        try:
            with session_scope(self.factory) as s:
                s.add(LiveOwnership(session_id=session_id, agent=agent, since=utcnow()))
                s.flush()  # the primary key decides the race
                res = s.execute(update(LiveSession).where(LiveSession.id == session_id,
                                                          LiveSession.state == "waiting")
                                .values(state="active", agent=agent, taken_at=utcnow()))
                if not res.rowcount:  # type: ignore[attr-defined]
                    raise TakeRefused(session_id)
                return s.get(LiveSession, session_id)  # type: ignore[return-value]
        except IntegrityError as exc:
            raise TakeRefused(session_id) from exc

    def owner(self, session_id: int) -> str | None:
        """The agent owning the session now."""
        with session_scope(self.factory) as s:
            return s.scalar(select(LiveOwnership.agent).where(LiveOwnership.session_id == session_id))

    def transfer(self, session_id: int, from_agent: str, to_agent: str) -> bool:
        """Hand an owned session to another agent; False unless ``from_agent`` owns it."""
        with session_scope(self.factory) as s:
            res = s.execute(update(LiveOwnership).where(LiveOwnership.session_id == session_id,
                                                        LiveOwnership.agent == from_agent)
                            .values(agent=to_agent, since=utcnow()))
            if not res.rowcount:  # type: ignore[attr-defined]
                return False
            s.execute(update(LiveSession).where(LiveSession.id == session_id).values(agent=to_agent))
            return True

    def finish(self, session_id: int, agent: str, outcome: str) -> bool:
        """End an active session owned by ``agent`` (``ended`` or ``returned`` to the bot)."""
        with session_scope(self.factory) as s:
            res = s.execute(delete(LiveOwnership).where(LiveOwnership.session_id == session_id,
                                                        LiveOwnership.agent == agent))
            if not res.rowcount:  # type: ignore[attr-defined]
                return False
            s.execute(update(LiveSession).where(LiveSession.id == session_id)
                      .values(state="ended", outcome=outcome, ended_at=utcnow()))
            return True

    def expire(self, session_id: int, outcome: str) -> bool:
        """Close a session nobody took (``timed_out``, ``closed``, ``abandoned``)."""
        with session_scope(self.factory) as s:
            res = s.execute(update(LiveSession).where(LiveSession.id == session_id, LiveSession.state == "waiting")
                            .values(state="expired", outcome=outcome, ended_at=utcnow()))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def queue(self) -> list[QueueView]:
        """Open sessions across channels, oldest first."""
        with session_scope(self.factory) as s:
            rows = s.scalars(select(LiveSession).where(LiveSession.state.in_(OPEN_STATES))
                             .order_by(LiveSession.queued_at, LiveSession.id))
            return [QueueView(r.id, r.conversation_id, r.channel, r.reason, r.state, r.agent,
                              _aware(r.queued_at), dict(r.summary or {})) for r in rows]

    def stats(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Dashboard figures: waiting now, median wait (s), hand-offs by channel and reason, abandoned."""
        with session_scope(self.factory) as s:
            rows = list(s.scalars(select(LiveSession)))
        waits = [(_aware(r.taken_at) - _aware(r.queued_at)).total_seconds() for r in rows if r.taken_at]
        return {
            "waiting": sum(1 for r in rows if r.state == "waiting"),
            "active": sum(1 for r in rows if r.state == "active"),
            "median_wait_s": round(statistics.median(waits)) if waits else None,
            "by_channel": dict(Counter(r.channel for r in rows)),
            "by_reason": dict(Counter(r.reason for r in rows)),
            "abandoned": sum(1 for r in rows if r.state == "expired" and r.taken_at is None),
            "total": len(rows),
        }


def _aware(value: dt.datetime | None) -> dt.datetime:
    # SQLite hands back naive datetimes for timezone-aware columns: they were stored in UTC.
    assert value is not None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def expected_wait_s(position: int, settings: DeskSettings) -> int:
    """Expected wait of the citizen at ``position``: one average handling time per citizen ahead and self."""
    return max(position, 1) * settings.handle_s
