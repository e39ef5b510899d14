"""Durable state every channel shares: webhook dedupe, per-conversation notes, opt-outs.

One SQL database (``CHANNELS_DB_URL``, default ``sqlite:///<repo>/var/channels.db``;
PostgreSQL in production) shared by all workers of the app server and the mail and
Telegram workers, so a retried or duplicated webhook is processed once whichever worker
receives it. Its three small tables are created on first use (``create_all``) and are
independent of the knowledge base's Alembic history: the channels never import the
knowledge base.

* **dedupe** — :meth:`ChannelState.begin` claims a vendor message id; the first caller
  gets ``Claim.NEW`` and processes it, later callers get ``IN_PROGRESS`` or ``DONE`` with
  the stored reply. A claim left ``in progress`` longer than ``stale_after`` seconds
  (its worker died) may be taken over, so nothing is lost.
* **notes** — small JSON values per (channel, conversation, key) with an expiry, e.g. the
  options of the last message so a bare digit reply can pick one, or the Telegram
  updates taken but not yet answered.
* **opt-outs** — per channel and hashed address; a proactive send must check them.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

REPO = Path(__file__).resolve().parent.parent
DEFAULT_STALE_AFTER_S = 60.0

metadata = MetaData()

processed = Table(
    "channel_processed", metadata,
    Column("channel", String(16), primary_key=True),
    Column("message_id", String(200), primary_key=True),
    Column("state", String(12), nullable=False),  # in_progress | done
    Column("reply", Text, nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True), nullable=True),
)

notes = Table(
    "channel_notes", metadata,
    Column("channel", String(16), primary_key=True),
    Column("conversation", String(100), primary_key=True),
    Column("key", String(40), primary_key=True),
    Column("value", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
)

opt_outs = Table(
    "channel_opt_outs", metadata,
    Column("channel", String(16), primary_key=True),
    Column("address_hash", String(64), primary_key=True),
    Column("opted_out", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes even for timezone=True columns.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Claim(enum.Enum):
    """Outcome of claiming a vendor message id."""

    NEW = "new"                  # first time: process it, then call finish()
    IN_PROGRESS = "in_progress"  # another worker is processing it right now
    DONE = "done"                # already processed; ClaimResult.reply holds the stored reply


@dataclass(frozen=True)
class ClaimResult:
    """What :meth:`ChannelState.begin` found."""

    claim: Claim
    reply: str | None = None


def default_url() -> str:
    """``CHANNELS_DB_URL`` or the embedded SQLite file under ``var/``."""
    return os.environ.get("CHANNELS_DB_URL") or f"sqlite:///{REPO / 'var' / 'channels.db'}"


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine


class ChannelState:
    """SQL-backed channel state; safe to share between threads and processes.

    Args:
        url: SQLAlchemy URL (default :func:`default_url`). Nothing connects until first use.
        stale_after: seconds after which an unfinished claim may be taken over.
    """

    def __init__(self, url: str | None = None, *, stale_after: float = DEFAULT_STALE_AFTER_S):
        self._url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self.stale_after = stale_after

    @property
    def engine(self) -> Engine:
        """The engine, created (with the tables) on first use."""
        with self._lock:
            if self._engine is None:
                engine = _make_engine(self._url or default_url())
                metadata.create_all(engine, checkfirst=True)
                self._engine = engine
            return self._engine

    # -- dedupe ---------------------------------------------------------------------------
    def begin(self, channel: str, message_id: str) -> ClaimResult:
        """Claim ``message_id`` of ``channel`` for processing.

        Returns:
            ``NEW`` for the first claim (or the takeover of a stale one), otherwise
            ``IN_PROGRESS`` or ``DONE`` with the stored reply.
        """
        now = _now()
        with self.engine.begin() as conn:
            try:
                conn.execute(insert(processed).values(channel=channel, message_id=message_id,
                                                      state="in_progress", claimed_at=now))
                return ClaimResult(Claim.NEW)
            except IntegrityError:
                pass
        with self.engine.begin() as conn:
            row = conn.execute(select(processed).where(processed.c.channel == channel,
                                                       processed.c.message_id == message_id)).one_or_none()
            if row is None:  # deleted between the two statements (retention): treat as new
                return self.begin(channel, message_id)
            if row.state == "done":
                return ClaimResult(Claim.DONE, row.reply)
            stale_before = now - dt.timedelta(seconds=self.stale_after)
            taken = conn.execute(
                update(processed)
                .where(processed.c.channel == channel, processed.c.message_id == message_id,
                       processed.c.state == "in_progress", processed.c.claimed_at == row.claimed_at,
                       processed.c.claimed_at < stale_before)
                .values(claimed_at=now)
            ).rowcount
            return ClaimResult(Claim.NEW) if taken == 1 else ClaimResult(Claim.IN_PROGRESS)

    def finish(self, channel: str, message_id: str, reply: str | None = None) -> None:
        """Mark a claimed message processed and store the reply sent for it (for replays)."""
        with self.engine.begin() as conn:
            conn.execute(update(processed)
                         .where(processed.c.channel == channel, processed.c.message_id == message_id)
                         .values(state="done", reply=reply, done_at=_now()))

    def release(self, channel: str, message_id: str) -> None:
        """Give a claim back unprocessed (e.g. the core was down), so a retry processes it."""
        with self.engine.begin() as conn:
            conn.execute(delete(processed).where(processed.c.channel == channel,
                                                 processed.c.message_id == message_id,
                                                 processed.c.state == "in_progress"))

    # -- notes ----------------------------------------------------------------------------
    def put_note(self, channel: str, conversation: str, key: str, value: Any,
                 ttl_s: float | None = None) -> None:
        """Store a JSON-serialisable ``value``; ``ttl_s`` None keeps it until overwritten."""
        expires = _now() + dt.timedelta(seconds=ttl_s) if ttl_s else None
        data = json.dumps(value, ensure_ascii=False)
        with self.engine.begin() as conn:
            where = (notes.c.channel == channel, notes.c.conversation == conversation, notes.c.key == key)
            if conn.execute(update(notes).where(*where).values(value=data, expires_at=expires)).rowcount == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(notes).values(channel=channel, conversation=conversation, key=key,
                                                          value=data, expires_at=expires))
                except IntegrityError:  # a concurrent writer inserted first: last write wins
                    conn.execute(update(notes).where(*where).values(value=data, expires_at=expires))

    def get_note(self, channel: str, conversation: str, key: str) -> Any | None:
        """The stored value, or None when absent or expired."""
        with self.engine.connect() as conn:
            row = conn.execute(select(notes.c.value, notes.c.expires_at).where(
                notes.c.channel == channel, notes.c.conversation == conversation, notes.c.key == key)).one_or_none()
        if row is None or (row.expires_at is not None and _aware(row.expires_at) <= _now()):
            return None
        return json.loads(row.value)

    def list_notes(self, channel: str, conversation: str) -> dict[str, Any]:
        """Every unexpired note of one conversation, by key (e.g. a pull worker's inbox)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(notes.c.key, notes.c.value, notes.c.expires_at).where(
                notes.c.channel == channel, notes.c.conversation == conversation)).all()
        now = _now()
        return {row.key: json.loads(row.value) for row in rows
                if row.expires_at is None or _aware(row.expires_at) > now}

    def delete_note(self, channel: str, conversation: str, key: str) -> None:
        """Forget a note."""
        with self.engine.begin() as conn:
            conn.execute(delete(notes).where(notes.c.channel == channel, notes.c.conversation == conversation,
                                             notes.c.key == key))

    # -- opt-outs -------------------------------------------------------------------------
    def set_opt_out(self, channel: str, address_hash: str, opted_out: bool) -> None:
        """Record that the address opted out (True) or back in (False)."""
        now = _now()
        with self.engine.begin() as conn:
            where = (opt_outs.c.channel == channel, opt_outs.c.address_hash == address_hash)
            changed = conn.execute(update(opt_outs).where(*where).values(opted_out=opted_out, changed_at=now))
            if changed.rowcount == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(opt_outs).values(channel=channel, address_hash=address_hash,
                                                             opted_out=opted_out, changed_at=now))
                except IntegrityError:
                    conn.execute(update(opt_outs).where(*where).values(opted_out=opted_out, changed_at=now))

    def is_opted_out(self, channel: str, address_hash: str) -> bool:
        """True when the address's latest choice was to opt out."""
        with self.engine.connect() as conn:
            value = conn.execute(select(opt_outs.c.opted_out).where(
                opt_outs.c.channel == channel, opt_outs.c.address_hash == address_hash)).scalar_one_or_none()
        return bool(value)

    # -- housekeeping ---------------------------------------------------------------------
    def purge(self, older_than: dt.timedelta, *, dry_run: bool = False) -> int:
        """Delete old finished dedupe records (with their stored replies) and expired notes.

        Returns the rows removed (``dry_run``: that would be removed; nothing changes).
        """
        cutoff = _now() - older_than
        if dry_run:
            with self.engine.connect() as conn:
                n = conn.execute(select(func.count()).select_from(processed).where(
                    processed.c.state == "done", processed.c.done_at < cutoff)).scalar_one()
                n += conn.execute(select(func.count()).select_from(notes).where(
                    notes.c.expires_at.is_not(None), notes.c.expires_at < _now())).scalar_one()
            return int(n)
        with self.engine.begin() as conn:
            n = conn.execute(delete(processed).where(processed.c.state == "done",
                                                     processed.c.done_at < cutoff)).rowcount
            n += conn.execute(delete(notes).where(notes.c.expires_at.is_not(None),
                                                  notes.c.expires_at < _now())).rowcount
        return int(n)

    def dispose(self) -> None:
        """Close the engine's connections (tests, shutdown)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
