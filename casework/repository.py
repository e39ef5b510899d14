"""Repository of the operational records: bookings, applications, cases, feedback.

Booking is safe under concurrency on SQLite and PostgreSQL alike: each attempt is one
short transaction that picks the lowest free place of the slot; the database's partial
unique indexes reject a place (or a second active booking per phone and service) that
another request took first, and the attempt is simply retried with fresh state.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import selectinload

from casework.models import (
    Application,
    ApplicationEvent,
    Booking,
    BookingStatus,
    Case,
    HandoffEvent,
    Rating,
    UnansweredQuestion,
    VerificationAttempt,
)
from casework.notices import application_status_changed
from casework.outbox import Outbox
from common.clock import CITY_TZ, city_today
from common.status import ApplicationStatus
from knowledge.db import SessionBacked, session_scope
from knowledge.models import utcnow
from knowledge.settings import SEED_DIR

log = logging.getLogger(__name__)
MAX_BOOKING_ATTEMPTS = 60


class SlotFull(Exception):
    """Every place of the requested slot is taken."""


class AlreadyBooked(Exception):
    """The phone already holds an active booking for this service."""

    def __init__(self, booking: Booking):
        super().__init__(booking.ref)
        self.booking = booking


class BookingNotFound(LookupError):
    """No active booking matches the reference and phone number."""


@dataclass(frozen=True)
class BookingRequest:
    """What a citizen asked to book (phone already validated, E.164)."""

    service_id: str
    center_id: str
    date: dt.date
    slot_start: str  # "HH:MM"
    name: str
    phone: str
    sender_hash: str = ""
    channel: str = ""


class CaseworkRepository(SessionBacked):
    """Reads and writes of bookings, applications, cases and citizen feedback.

    Args:
        factory: a sessionmaker; defaults to the configured database (built lazily).
    """

    _outbox: Outbox | None = None

    @property
    def outbox(self) -> Outbox:
        """Where status notices are queued (default: the outbox on this repository's database)."""
        if self._outbox is None:
            self._outbox = Outbox(self.factory)
        return self._outbox

    @outbox.setter
    def outbox(self, value: Outbox) -> None:
        self._outbox = value

    # -------------------------------------------------------------- bookings
    def slot_usage(self, center_id: str, service_id: str, day: dt.date) -> dict[str, int]:
        """Active bookings per slot start ("HH:MM") for one centre, service and day."""
        with self.factory() as s:
            rows = s.execute(
                select(Booking.slot_start, func.count()).where(
                    Booking.center_id == center_id, Booking.service_id == service_id,
                    Booking.date == day, Booking.status == BookingStatus.active,
                ).group_by(Booking.slot_start))
            return {slot: int(n) for slot, n in rows}

    def book(self, req: BookingRequest, capacity: int) -> Booking:
        """Book the lowest free place of the slot.

        Raises:
            AlreadyBooked: the phone holds an active booking for this service.
            SlotFull: the slot has no free place (also after losing every race for one).
        """
        for attempt in range(MAX_BOOKING_ATTEMPTS):
            try:
                return self._try_book(req, capacity)
            except IntegrityError:
                continue  # another request took that place (or the reference): look again
            except OperationalError as exc:  # SQLite busy under heavy contention
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(min(0.5, 0.01 * (attempt + 1)))
        log.warning("booking gave up after %d attempts on a contended slot", MAX_BOOKING_ATTEMPTS)
        raise SlotFull()

    def _try_book(self, req: BookingRequest, capacity: int) -> Booking:
        with session_scope(self.factory) as s:
            s.execute(update(Booking).where(
                Booking.phone == req.phone, Booking.service_id == req.service_id,
                Booking.status == BookingStatus.active, Booking.date < city_today(),
            ).values(status=BookingStatus.expired))
            existing = s.scalar(select(Booking).where(
                Booking.phone == req.phone, Booking.service_id == req.service_id,
                Booking.status == BookingStatus.active))
            if existing is not None:
                s.expunge(existing)  # keep its loaded values through the rollback
                raise AlreadyBooked(existing)
            taken = set(s.scalars(select(Booking.place_no).where(
                Booking.center_id == req.center_id, Booking.service_id == req.service_id,
                Booking.date == req.date, Booking.slot_start == req.slot_start,
                Booking.status == BookingStatus.active)))
            free = [p for p in range(1, capacity + 1) if p not in taken]
            if not free:
                raise SlotFull()
            booking = Booking(ref=new_booking_ref(), service_id=req.service_id, center_id=req.center_id,
                              date=req.date, slot_start=req.slot_start, place_no=free[0], name=req.name,
                              phone=req.phone, sender_hash=req.sender_hash, channel=req.channel)
            s.add(booking)
            s.flush()
            return booking

    def find_booking(self, ref: str, phone: str) -> Booking:
        """The booking with ``ref`` made with ``phone`` (any status), or raise BookingNotFound."""
        with self.factory() as s:
            b = s.scalar(select(Booking).where(Booking.ref == ref.upper(), Booking.phone == phone))
            if b is None:
                raise BookingNotFound(ref)
            return b

    def cancel_booking(self, ref: str, phone: str) -> Booking:
        """Cancel an active booking; raise BookingNotFound when none matches."""
        with session_scope(self.factory) as s:
            b = s.scalar(select(Booking).where(Booking.ref == ref.upper(), Booking.phone == phone,
                                               Booking.status == BookingStatus.active))
            if b is None:
                raise BookingNotFound(ref)
            b.status = BookingStatus.cancelled
            b.cancelled_at = utcnow()
            s.flush()
            return b

    def bookings_on(self, day: dt.date, center_id: str | None = None) -> list[Booking]:
        """Active bookings of a day (for the hall's printed list)."""
        stmt = select(Booking).where(Booking.date == day, Booking.status == BookingStatus.active)
        if center_id:
            stmt = stmt.where(Booking.center_id == center_id)
        with self.factory() as s:
            return list(s.scalars(stmt.order_by(Booking.center_id, Booking.slot_start, Booking.place_no)))

    # ------------------------------------------------ applications and cases
    def get_application(self, number: str) -> Application | None:
        """An application with its history, or None."""
        with self.factory() as s:
            return s.scalar(select(Application).options(selectinload(Application.events))
                            .where(Application.number == number))

    def get_case(self, number: str) -> Case | None:
        """A complaint case, or None."""
        with self.factory() as s:
            return s.get(Case, number.upper())

    def create_case(self, *, description: str, location: str, contact_phone: str, channel: str,
                    sender_hash: str, kind: str = "complaint", category: str = "其他", **extra: Any) -> Case:
        """Open a case with a fresh tracking number; see :meth:`casework.cases.CaseDesk.open_case`."""
        from casework.cases import CaseDesk

        return CaseDesk(self.factory).open_case(description=description, location=location, kind=kind,
                                                channel=channel, sender_hash=sender_hash,
                                                contact_phone=contact_phone, category=category, **extra)

    def record_verification(self, sender_hash: str, subject: str, success: bool) -> None:
        """Remember one identity check."""
        with session_scope(self.factory) as s:
            s.add(VerificationAttempt(sender_hash=sender_hash, subject=subject, success=success))

    def failed_verifications(self, sender_hash: str, within: dt.timedelta = dt.timedelta(hours=1)) -> int:
        """Failed identity checks of a sender in the last ``within``."""
        since = utcnow() - within
        with self.factory() as s:
            return int(s.scalar(select(func.count()).select_from(VerificationAttempt).where(
                VerificationAttempt.sender_hash == sender_hash, VerificationAttempt.success.is_(False),
                VerificationAttempt.at >= since)) or 0)

    # ------------------------------------------------------------- feedback
    def record_unanswered(self, *, question: str, channel: str, sender_hash: str, reason: str,
                          best_service_id: str | None = None, best_confidence: float | None = None) -> None:
        """Put a (PII-masked) question in the staff inbox."""
        with session_scope(self.factory) as s:
            s.add(UnansweredQuestion(question=question[:2000], channel=channel, sender_hash=sender_hash,
                                     reason=reason, best_service_id=best_service_id,
                                     best_confidence=best_confidence))

    def unanswered(self, limit: int = 200) -> list[UnansweredQuestion]:
        """Newest unanswered questions first."""
        with self.factory() as s:
            return list(s.scalars(select(UnansweredQuestion).order_by(UnansweredQuestion.id.desc()).limit(limit)))

    def record_rating(self, *, score: int, context: str, service_id: str | None, channel: str,
                      sender_hash: str) -> None:
        """Store a 1-5 satisfaction rating."""
        if not 1 <= score <= 5:
            raise ValueError("score must be 1-5")
        with session_scope(self.factory) as s:
            s.add(Rating(score=score, context=context, service_id=service_id, channel=channel,
                         sender_hash=sender_hash))

    def ratings(self) -> list[Rating]:
        """All ratings, oldest first."""
        with self.factory() as s:
            return list(s.scalars(select(Rating).order_by(Rating.id)))

    def record_handoff(self, *, sender_hash: str, channel: str, reason: str = "requested") -> None:
        """Record that a citizen asked for (or was offered) a human."""
        with session_scope(self.factory) as s:
            s.add(HandoffEvent(sender_hash=sender_hash, channel=channel, reason=reason))

    def handoffs(self) -> list[HandoffEvent]:
        """All hand-off events, oldest first."""
        with self.factory() as s:
            return list(s.scalars(select(HandoffEvent).order_by(HandoffEvent.id)))

    # ------------------------------------------------------------ staff work
    def list_applications(self, *, status: str | None = None, limit: int = 500) -> list[Application]:
        """Applications, most recently updated first (for the staff console)."""
        stmt = select(Application).order_by(Application.updated_at.desc(), Application.number).limit(limit)
        if status:
            stmt = stmt.where(Application.status == status)
        with self.factory() as s:
            return list(s.scalars(stmt))

    def update_application_status(self, number: str, status: ApplicationStatus | str, *, note: str, actor: str,
                                  next_step: str | None = None) -> Application:
        """Move an application to ``status`` with a history entry; audited; the applicant notified.

        Every status change goes through here (console, CSV import, system-of-record sync); an
        applicant who agreed to be notified gets a notice through the outbox, queued in the same
        transaction (:func:`casework.notices.application_status_changed`).

        Raises:
            LookupError: no application has ``number``.
            ValueError: ``status`` is not an application status.
        """
        from knowledge.models import AuditEntry

        status = ApplicationStatus(status)
        with session_scope(self.factory) as s:
            app = s.scalar(select(Application).options(selectinload(Application.events))
                           .where(Application.number == number))
            if app is None:
                raise LookupError(number)
            before = {"status": app.status, "next_step": app.next_step}
            app.status = status
            if next_step is not None:
                app.next_step = next_step
            app.updated_at = utcnow()
            app.events.append(ApplicationEvent(at=utcnow(), status=status, note=note, actor=actor))
            s.add(AuditEntry(actor=actor, action="status", entity_type="application", entity_id=number,
                             before=before, after={"status": app.status, "next_step": app.next_step},
                             note=note[:500]))
            s.flush()
            application_status_changed(s, app, outbox=self.outbox)  # commits with the change, or not at all
            return app

    def open_unanswered(self, limit: int = 2000) -> list[UnansweredQuestion]:
        """Questions still waiting for staff, newest first."""
        with self.factory() as s:
            return list(s.scalars(select(UnansweredQuestion).where(UnansweredQuestion.status == "open")
                                  .order_by(UnansweredQuestion.id.desc()).limit(limit)))

    def set_unanswered_status(self, ids: list[int], status: str) -> int:
        """Mark inbox questions ``attached`` / ``drafted`` / ``dismissed``; returns how many changed."""
        if status not in ("open", "attached", "drafted", "dismissed"):
            raise ValueError(f"unknown inbox status {status!r}")
        with session_scope(self.factory) as s:
            res = s.execute(update(UnansweredQuestion).where(UnansweredQuestion.id.in_(ids))
                            .values(status=status))
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------- seed
    def load_sample_applications(self, path: Path | None = None) -> int:
        """Load ``seed/applications.yml`` when the table is empty; returns how many were added."""
        path = path or SEED_DIR / "applications.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        with session_scope(self.factory) as s:
            if s.scalar(select(func.count()).select_from(Application)):
                return 0
            for row in data.get("applications") or []:
                events = [ApplicationEvent(at=_aware(e["at"]), status=e["status"], note=e.get("note", ""))
                          for e in row.get("events") or []]
                s.add(Application(number=str(row["number"]), service_id=row["service_id"],
                                  applicant_name=row["applicant_name"], phone_last4=str(row["phone_last4"]),
                                  id_last4=str(row["id_last4"]).upper(), status=row["status"],
                                  next_step=row.get("next_step", ""),
                                  submitted_at=events[0].at if events else utcnow(), events=events))
            return len(data.get("applications") or [])


def new_booking_ref() -> str:
    """A booking reference: YY + 6 digits (keypad-friendly without the letters)."""
    return "YY" + f"{secrets.randbelow(1_000_000):06d}"


def _aware(value: Any) -> dt.datetime:
    """A seed timestamp (city time when naive) as UTC, like every stored timestamp."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CITY_TZ)
    return moment.astimezone(dt.UTC)
