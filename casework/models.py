"""Operational records behind the citizen promise "during" and "after".

Bookings (appointments at service centres), applications and their status history,
complaint cases, unanswered questions for staff, satisfaction ratings, hand-offs to a
human and identity-check attempts. Same database and Alembic history as the knowledge
base; personal data is kept to what each feature needs (e.g. only the last four digits
of an applicant's phone and ID number for the status check).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from common.status import ApplicationStatus, BookingStatus
from knowledge.models import Base, utcnow


class Booking(Base):
    """One appointment: a numbered place in a 30-minute slot of one service at one centre.

    The partial unique index on (centre, service, date, slot, place) for active
    bookings is what makes double booking impossible, whatever the concurrency; the
    one on (phone, service) enforces one active booking per phone per service.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        Index("uq_bookings_active_place", "center_id", "service_id", "date", "slot_start", "place_no",
              unique=True, sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        Index("uq_bookings_active_phone_service", "phone", "service_id",
              unique=True, sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    center_id: Mapped[str] = mapped_column(ForeignKey("service_centers.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    slot_start: Mapped[str] = mapped_column(String(5))  # "HH:MM", city time
    place_no: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164; needed to confirm and cancel
    sender_hash: Mapped[str] = mapped_column(String(32), default="")
    channel: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[BookingStatus] = mapped_column(
        Enum(BookingStatus, native_enum=False, length=16), default=BookingStatus.active, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Application(Base):
    """An application being handled by a department, looked up by its number."""

    __tablename__ = "applications"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    applicant_name: Mapped[str] = mapped_column(String(100))
    phone_last4: Mapped[str] = mapped_column(String(4))
    id_last4: Mapped[str] = mapped_column(String(4))
    status: Mapped[ApplicationStatus] = mapped_column(Enum(ApplicationStatus, native_enum=False, length=32))
    next_step: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", order_by="ApplicationEvent.at", cascade="all, delete-orphan")


class ApplicationEvent(Base):
    """One step in an application's (or a case's) status history."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_number: Mapped[str] = mapped_column(ForeignKey("applications.number", ondelete="CASCADE"),
                                                    index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100), default="system")

    application: Mapped[Application] = relationship(back_populates="events")


class Case(Base):
    """A complaint or suggestion (市长信箱 / 12345 style) with a tracking number."""

    __tablename__ = "cases"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)  # TS + YYMMDD + 8 (older: 4) digits
    kind: Mapped[str] = mapped_column(String(16), default="complaint")  # complaint | suggestion
    category: Mapped[str] = mapped_column(String(32), default="其他")
    description: Mapped[str] = mapped_column(Text)  # PII masked
    location: Mapped[str] = mapped_column(String(300), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")  # E.164 or empty
    phone_last4: Mapped[str] = mapped_column(String(4), default="")
    channel: Mapped[str] = mapped_column(String(32), default="")
    sender_hash: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(32), default="received")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{at, status, note}] (before the case desk)
    # The case desk (migration 0005; see casework.cases): routing, deadline, reply address, rating.
    department_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    suggested_department: Mapped[str] = mapped_column(String(64), default="")
    suggested_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    assignee: Mapped[str] = mapped_column(String(64), default="")
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    contact_sealed: Mapped[str] = mapped_column(Text, default="")  # phone, sealed (common.sealing)
    reply_channel: Mapped[str] = mapped_column(String(32), default="")
    reply_to: Mapped[str] = mapped_column(Text, default="")  # sealed: chat id, phone or mail address
    reply_thread: Mapped[str] = mapped_column(String(300), default="")  # mail Message-ID to answer in
    excerpt: Mapped[str] = mapped_column(Text, default="")  # masked conversation excerpt
    replied_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rating: Mapped[str] = mapped_column(String(16), default="")  # satisfied | mostly | dissatisfied
    rated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)


class UnansweredQuestion(Base):
    """A citizen question the bot could not answer (PII masked), for the staff inbox."""

    __tablename__ = "unanswered_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    question: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(32), default="")
    sender_hash: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(String(32), default="no_match")  # no_match | low_confidence
    best_service_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    best_confidence: Mapped[float | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | attached | drafted | dismissed


class Rating(Base):
    """A 1-5 satisfaction rating after a booking, status lookup or complaint."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    score: Mapped[int] = mapped_column(Integer)
    context: Mapped[str] = mapped_column(String(32))  # booking | status | complaint | cancel
    service_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(32), default="")
    sender_hash: Mapped[str] = mapped_column(String(32), default="")


class HandoffEvent(Base):
    """A request to reach a human, recorded on the conversation."""

    __tablename__ = "handoff_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    sender_hash: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(String(64), default="requested")


class VerificationAttempt(Base):
    """One identity check before a status is revealed (rate-limited per sender)."""

    __tablename__ = "verification_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender_hash: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    subject: Mapped[str] = mapped_column(String(20))  # the number looked up
    success: Mapped[bool] = mapped_column(default=False)


# The guard tables (identity checks, phone codes, booking origins) live in their own module.
from casework import guard_models as _guard_models  # noqa: E402,F401
