"""Tables of the department router and of the application status sync.

``routing_decisions`` keeps what staff chose for a case next to what the router suggested,
so the router can learn from staff and the console can show how often it agrees with them.
``application_sync_state`` keeps, per external system of record, the cursor up to which its
status changes have been applied.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.models import Base, utcnow


class RoutingDecision(Base):
    """One staff decision on a case's department (an assignment or a transfer).

    ``text`` is the case text with personal numbers masked; ``suggested`` is the router's
    department at the time (empty when there was none), ``chosen`` the one staff picked.
    """

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(20), index=True, default="")
    text: Mapped[str] = mapped_column(Text)
    suggested: Mapped[str] = mapped_column(String(64), default="")
    chosen: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApplicationSyncState(Base):
    """How far the status changes of one application source have been applied."""

    __tablename__ = "application_sync_state"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
