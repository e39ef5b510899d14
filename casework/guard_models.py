"""Tables of the citizen-facing guards: identity checks, phone-ownership codes, booking origins.

Nothing here holds a raw phone number, client address or code: each is a salted hash
(:func:`common.identity.hash_sender`, HMAC with ``SENDER_HASH_SALT``), codes a
per-row salted SHA-256. See :mod:`casework.guards` for the rules that read them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.models import Base, utcnow


class IdentityCheck(Base):
    """One identity check before a status is revealed, counted per number, sender and client."""

    __tablename__ = "identity_checks"
    __table_args__ = (Index("ix_identity_checks_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    subject_hash: Mapped[str] = mapped_column(String(32), index=True)  # the application/case number
    sender_hash: Mapped[str] = mapped_column(String(32), index=True)
    client_hash: Mapped[str] = mapped_column(String(32), index=True, default="")
    success: Mapped[bool] = mapped_column(default=False)


class PhoneCode(Base):
    """A one-time code sent by SMS to prove a phone before a booking is made, shown or cancelled.

    The code itself is never stored: ``code_hash`` is SHA-256 of ``salt`` + code. A code
    serves one conversation (``session_hash``), expires at ``expires_at`` and dies after
    the allowed wrong tries; ``proved_at`` marks the phone proved for that conversation.
    """

    __tablename__ = "phone_codes"
    __table_args__ = (Index("ix_phone_codes_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    phone_hash: Mapped[str] = mapped_column(String(32), index=True)
    session_hash: Mapped[str] = mapped_column(String(32), index=True)
    client_hash: Mapped[str] = mapped_column(String(32), index=True, default="")
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    proved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BookingOrigin(Base):
    """Where a booking came from (centre, hashed client address), for the velocity alert."""

    __tablename__ = "booking_origins"
    __table_args__ = (Index("ix_booking_origins_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    booking_ref: Mapped[str] = mapped_column(String(16), index=True)
    center_id: Mapped[str] = mapped_column(String(64), index=True)
    client_hash: Mapped[str] = mapped_column(String(32), index=True, default="")
    channel: Mapped[str] = mapped_column(String(20), default="")
