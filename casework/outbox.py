"""The notification outbox: every notice to a citizen, durable, sent once.

A notice (a department's reply to a case, an application's status change, an appointment
reminder) is *enqueued* as one row of ``outbox``, in the same transaction as the change it
reports when there is one. A worker (``server/outbox_worker.py``) *claims* due rows with a
lease, hands each to its channel's sender and *records* the outcome. casework keeps the
outbox; the channels send; only the composition root knows both.

Delivery contract — nothing lost, nothing sent twice:

* **Nothing lost.** A row leaves ``pending``/``held`` only by a claim, and a claim ends only
  by ``mark_sent``, ``mark_failed`` (back to ``pending`` with backoff, ``failed`` after
  ``max_attempts``), ``refused`` (opt-out) or ``hold`` (quiet hours). A worker killed at any
  point leaves the row ``sending`` with a lease; when the lease expires another claim takes it.
* **Nothing twice.** The attempt (``attempt_id``, and ``first_attempt_at``: when the first
  attempt that may have reached the provider began) is committed *before* the send. A claim
  of a row that was attempted before (killed between send and record, or a send whose outcome
  is unknown, e.g. a timeout) first asks the sender whether the notice already left
  (``find_notice``), and records it as sent without sending again when it did. Records are
  fenced by ``attempt_id``: a worker that lost its lease cannot overwrite the new owner's.
  Every claim is atomic on SQLite and PostgreSQL (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
  and on both a compare-and-set ``UPDATE`` on the row's status and attempt count).

How each channel answers "did this notice already leave?" (the honest guarantee):

* **SMS (Twilio REST)** — the provider is asked: the account's messages to the number since
  the first attempt, matched by body. Exactly once, unless two different notices with the same
  body go to the same number within one retry window (they would be merged into one).
* **Mail** — the Message-ID is derived from the idempotency key; after SMTP accepts it a copy
  is saved in the bot mailbox's Sent folder, and the reconcile searches Sent for that
  Message-ID. Killed between SMTP's acceptance and the copy (milliseconds), the mail is sent
  again *with the same Message-ID*, which mail clients show once.
* **Telegram** — the Bot API cannot list sent messages, so the sender stores its own attempt
  record (the message id) in the channel state right after Telegram answers. Killed between
  Telegram's answer and that write (milliseconds), the notice is sent again: at least once
  in that window, exactly once everywhere else.
* **Web chat** — the "send" is an idempotent write keyed by the notice into the channel
  state, shown when the citizen next opens the chat: exactly once.

Quiet hours (per channel, ``casework/outbox.yml``; SMS 21:00–08:00 city time) hold a notice
until the end of the window; an opt-out at the sender marks it ``refused`` and it is never
retried. Recipients are sealed at rest (:mod:`common.sealing`); logs carry row ids and keys,
never addresses or bodies.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import DateTime, Integer, String, Text, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from common.clock import CITY_TZ
from common.sealing import Sealer, sealer_from_env
from common.status import StrEnum
from knowledge.db import SessionBacked, session_scope
from knowledge.models import Base, utcnow

log = logging.getLogger(__name__)

CONFIG_FILE = Path(__file__).resolve().parent / "outbox.yml"
CONFIG_ENV = "OUTBOX_CONFIG"


class NoticeStatus(StrEnum):
    """Lifecycle of one outbox row."""

    pending = "pending"    # due at next_attempt_at
    sending = "sending"    # claimed by a worker until claimed_until
    sent = "sent"
    held = "held"          # quiet hours: due again at next_attempt_at
    failed = "failed"      # gave up after max_attempts
    refused = "refused"    # the recipient opted out (or cannot receive): never retried


class OutboxNotice(Base):
    """One notice to one citizen on one channel, identified by its idempotency key."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # case_replied | application_status | ...
    channel: Mapped[str] = mapped_column(String(16))
    recipient_sealed: Mapped[str] = mapped_column(Text)
    thread: Mapped[str] = mapped_column(String(300), default="")  # mail: Message-ID to reply to
    subject: Mapped[str] = mapped_column(String(200), default="")  # mail only
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=NoticeStatus.pending, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempt_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    first_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    provider_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class QuietHours:
    """A daily window (city time) in which a channel sends nothing; may span midnight."""

    start: dt.time
    end: dt.time

    def holds_until(self, now: dt.datetime) -> dt.datetime | None:
        """When a notice due at ``now`` may go (UTC), or None when ``now`` is outside the window."""
        local = now.astimezone(CITY_TZ)
        t = local.time()
        inside = (self.start <= t < self.end) if self.start <= self.end else (t >= self.start or t < self.end)
        if not inside:
            return None
        day = local.date() if t < self.end else local.date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, self.end, tzinfo=CITY_TZ).astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class OutboxPolicy:
    """Leases, retries and quiet hours (``casework/outbox.yml``)."""

    lease_s: float = 120.0
    send_timeout_s: float = 10.0
    backoff_first_s: float = 30.0
    backoff_factor: float = 2.0
    backoff_max_s: float = 3600.0
    max_attempts: int = 8
    quiet_hours: Mapping[str, QuietHours] = field(default_factory=dict)
    reminder_at: dt.time = dt.time(10, 0)

    @classmethod
    def load(cls, path: Path | None = None, env: Mapping[str, str] | None = None) -> OutboxPolicy:
        """Read the YAML (``OUTBOX_CONFIG`` or the committed file) with environment overrides.

        Raises:
            ValueError: a value is malformed.
        """
        env = os.environ if env is None else env
        path = path or Path(env.get(CONFIG_ENV) or CONFIG_FILE)
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        backoff = data.get("backoff") or {}
        quiet = {str(ch): QuietHours(_hhmm(w["start"]), _hhmm(w["end"]))
                 for ch, w in (data.get("quiet_hours") or {}).items()}
        policy = cls(
            lease_s=float(env.get("OUTBOX_LEASE_S") or data.get("lease_s", 120)),
            send_timeout_s=float(data.get("send_timeout_s", 10)),
            backoff_first_s=float(backoff.get("first_s", 30)),
            backoff_factor=float(backoff.get("factor", 2)),
            backoff_max_s=float(backoff.get("max_s", 3600)),
            max_attempts=int(env.get("OUTBOX_MAX_ATTEMPTS") or data.get("max_attempts", 8)),
            quiet_hours=quiet,
            reminder_at=_hhmm((data.get("reminders") or {}).get("at", "10:00")),
        )
        if policy.lease_s <= 0 or policy.max_attempts < 1 or policy.backoff_first_s < 0:
            raise ValueError(f"{path}: lease_s and max_attempts must be positive")
        return policy

    def backoff(self, attempts: int) -> dt.timedelta:
        """Delay before the next attempt after ``attempts`` failed ones."""
        seconds = self.backoff_first_s * self.backoff_factor ** max(0, attempts - 1)
        return dt.timedelta(seconds=min(seconds, self.backoff_max_s))

    def held_until(self, channel: str, now: dt.datetime) -> dt.datetime | None:
        """End of the channel's quiet hours when ``now`` is inside them, else None."""
        window = self.quiet_hours.get(channel)
        return window.holds_until(now) if window else None


def _hhmm(value: Any) -> dt.time:
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 21:00 as sexagesimal minutes
        return dt.time(value // 60, value % 60)
    hours, minutes = str(value).split(":")
    return dt.time(int(hours), int(minutes))


@dataclass(frozen=True)
class ClaimedNotice:
    """A notice a worker owns until ``claimed_until``.

    ``attempt_id`` fences every record of this attempt. ``reconcile_since`` is set when an
    earlier attempt may have reached the provider: the worker must ask the sender whether the
    notice left since then before sending it again.
    """

    id: int
    key: str
    kind: str
    channel: str
    recipient_sealed: str
    thread: str
    subject: str
    body: str
    attempt_id: str
    attempts: int
    claimed_until: dt.datetime
    reconcile_since: dt.datetime | None


class Outbox(SessionBacked):
    """Enqueue, claim and record notices.

    Args:
        factory: a sessionmaker; defaults to the configured database (built lazily).
        sealer: seals recipients (default: :func:`common.sealing.sealer_from_env`, built lazily).
        policy: leases, retries and quiet hours (default: ``casework/outbox.yml``, read lazily).
    """

    def __init__(self, factory: Any = None, *, sealer: Sealer | None = None, policy: OutboxPolicy | None = None):
        super().__init__(factory)
        self._sealer = sealer
        self._policy = policy

    @property
    def sealer(self) -> Sealer:
        """The sealer of recipients."""
        if self._sealer is None:
            self._sealer = sealer_from_env()
        return self._sealer

    @property
    def policy(self) -> OutboxPolicy:
        """Leases, retries and quiet hours."""
        if self._policy is None:
            self._policy = OutboxPolicy.load()
        return self._policy

    # ---------------------------------------------------------------- enqueue
    def enqueue(self, *, key: str, kind: str, channel: str, recipient: str, body: str, thread: str = "",
                subject: str = "", not_before: dt.datetime | None = None, session: Session | None = None) -> bool:
        """Queue a notice once per ``key``; True when queued now, False when the key already exists.

        Args:
            key: idempotency key (e.g. ``case_replied:TS2612030001:1``); the same key is never queued twice.
            kind: what the notice is about (for staff and statistics).
            channel: the channel whose sender delivers it (``sms``, ``mail``, ``telegram``, ``webchat``).
            recipient: the raw address (E.164 number, mail address, chat id, web chat session); sealed here.
            body: the text as the channel shows it.
            thread: mail only: the Message-ID the notice replies to.
            subject: mail only: the subject line.
            not_before: do not send before this moment.
            session: enqueue inside the caller's transaction (the change and its notice commit together).
        """
        if not (key and recipient and body.strip()):
            raise ValueError("a notice needs a key, a recipient and a body")
        now = utcnow()
        due = max(now, not_before) if not_before else now
        held = self.policy.held_until(channel, due)
        row = OutboxNotice(key=key[:200], kind=kind, channel=channel, recipient_sealed=self.sealer.seal(recipient),
                           thread=thread, subject=subject[:200], body=body,
                           status=NoticeStatus.held if held else NoticeStatus.pending,
                           next_attempt_at=held or due, created_at=now)
        if session is not None:
            return self._insert(session, row)
        with session_scope(self.factory) as s:
            return self._insert(s, row)

    @staticmethod
    def _insert(s: Session, row: OutboxNotice) -> bool:
        if s.scalar(select(OutboxNotice.id).where(OutboxNotice.key == row.key)) is not None:
            return False
        try:
            with s.begin_nested():
                s.add(row)
                s.flush()
        except IntegrityError:  # a concurrent enqueue of the same key won
            return False
        log.info("outbox: queued id=%s kind=%s channel=%s key=%s", row.id, row.kind, row.channel, row.key)
        return True

    # ------------------------------------------------------------------ claim
    def claim(self, worker_id: str, limit: int = 10, lease: float | None = None) -> list[ClaimedNotice]:
        """Take up to ``limit`` due notices for ``worker_id`` for ``lease`` seconds.

        Due: ``pending``/``held`` rows whose ``next_attempt_at`` has passed, and ``sending``
        rows whose lease expired (their worker died). Two workers never get the same row.
        """
        lease_s = self.policy.lease_s if lease is None else lease
        now = utcnow()
        until = now + dt.timedelta(seconds=lease_s)
        due = or_(and_(OutboxNotice.status.in_([NoticeStatus.pending, NoticeStatus.held]),
                       OutboxNotice.next_attempt_at <= now),
                  and_(OutboxNotice.status == NoticeStatus.sending, OutboxNotice.claimed_until < now))
        claimed: list[ClaimedNotice] = []
        with session_scope(self.factory) as s:
            rows = s.execute(select(OutboxNotice.id, OutboxNotice.status, OutboxNotice.attempts,
                                    OutboxNotice.first_attempt_at)
                             .where(due).order_by(OutboxNotice.next_attempt_at, OutboxNotice.id).limit(limit)
                             .with_for_update(skip_locked=True)).all()
            for row_id, status, attempts, first_at in rows:
                attempt_id = uuid.uuid4().hex
                # A row attempted before may have reached the provider: keep the start of that window.
                reconcile = first_at if attempts > 0 and first_at is not None else None
                won = s.execute(update(OutboxNotice).where(
                    OutboxNotice.id == row_id, OutboxNotice.status == status, OutboxNotice.attempts == attempts, due,
                ).values(status=NoticeStatus.sending, claimed_by=worker_id[:64], claimed_until=until,
                         attempt_id=attempt_id, attempts=attempts + 1,
                         first_attempt_at=reconcile or now).execution_options(synchronize_session=False))
                if won.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another worker took it between our read and our write
                n = s.get_one(OutboxNotice, row_id)
                s.refresh(n)
                claimed.append(ClaimedNotice(
                    id=n.id, key=n.key, kind=n.kind, channel=n.channel, recipient_sealed=n.recipient_sealed,
                    thread=n.thread, subject=n.subject, body=n.body, attempt_id=attempt_id, attempts=attempts + 1,
                    claimed_until=until, reconcile_since=_aware(reconcile) if reconcile else None))
        for c in claimed:
            log.info("outbox: claimed id=%s by=%s attempt=%d%s", c.id, worker_id, c.attempts,
                     " (reconcile)" if c.reconcile_since else "")
        return claimed

    def recipient(self, notice: ClaimedNotice) -> str:
        """The raw address of a claimed notice."""
        return self.sealer.unseal(notice.recipient_sealed)

    # ----------------------------------------------------------------- record
    def _finish(self, notice: ClaimedNotice, **values: Any) -> bool:
        with session_scope(self.factory) as s:
            res = s.execute(update(OutboxNotice).where(
                OutboxNotice.id == notice.id, OutboxNotice.attempt_id == notice.attempt_id,
                OutboxNotice.status == NoticeStatus.sending,
            ).values(claimed_by=None, claimed_until=None, **values).execution_options(synchronize_session=False))
            ok = res.rowcount == 1  # type: ignore[attr-defined]
        if not ok:
            log.warning("outbox: id=%s attempt %s lost its lease before it was recorded", notice.id,
                        notice.attempt_id)
        return ok

    def mark_sent(self, notice: ClaimedNotice, provider_ref: str) -> bool:
        """Record the notice as sent with the provider's id; False when this attempt no longer owns it."""
        ok = self._finish(notice, status=NoticeStatus.sent, provider_ref=provider_ref[:200], sent_at=utcnow(),
                          last_error="")
        if ok:
            log.info("outbox: sent id=%s channel=%s ref=%s", notice.id, notice.channel, provider_ref)
        return ok

    def mark_failed(self, notice: ClaimedNotice, error: str) -> bool:
        """Record a failed attempt: retried with exponential backoff, ``failed`` after ``max_attempts``."""
        policy = self.policy
        final = notice.attempts >= policy.max_attempts
        ok = self._finish(notice, status=NoticeStatus.failed if final else NoticeStatus.pending,
                          next_attempt_at=utcnow() + policy.backoff(notice.attempts), last_error=error[:300])
        if ok:
            log.warning("outbox: id=%s attempt %d failed (%s)%s", notice.id, notice.attempts, error[:120],
                        " — giving up" if final else "")
        return ok

    def refused(self, notice: ClaimedNotice, reason: str) -> bool:
        """Record that the recipient opted out (or cannot receive): never retried."""
        ok = self._finish(notice, status=NoticeStatus.refused, last_error=reason[:300])
        if ok:
            log.info("outbox: refused id=%s channel=%s (%s)", notice.id, notice.channel, reason[:80])
        return ok

    def hold(self, notice: ClaimedNotice, until: dt.datetime) -> bool:
        """Put the notice back until ``until`` (quiet hours) without counting an attempt."""
        values: dict[str, Any] = {"status": NoticeStatus.held, "next_attempt_at": until,
                                  "attempts": notice.attempts - 1}
        if notice.reconcile_since is None:
            values["first_attempt_at"] = None  # nothing left towards the provider yet
        return self._finish(notice, **values)

    # ------------------------------------------------------------------ reads
    def get(self, key: str) -> OutboxNotice | None:
        """The notice with ``key``, or None."""
        with self.factory() as s:
            return s.scalar(select(OutboxNotice).where(OutboxNotice.key == key))

    def counts(self) -> dict[str, int]:
        """Rows per status (for staff and tests)."""
        from sqlalchemy import func

        with self.factory() as s:
            return {str(st): int(n) for st, n in s.execute(
                select(OutboxNotice.status, func.count()).group_by(OutboxNotice.status))}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
