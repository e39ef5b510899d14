"""SQLAlchemy 2 models of the knowledge base.

The schema is owned by Alembic (``knowledge/migrations``); ``Base.metadata`` is its
source of truth for autogenerate and for throw-away test databases.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

HOTLINE = "12345"


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC (stored as such; shown in Asia/Shanghai)."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with a stable naming convention for constraints."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012 (SQLAlchemy hook)


Base.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Audience(enum.StrEnum):
    """Who a service is for."""

    citizen = "citizen"
    enterprise = "enterprise"


class FaqStatus(enum.StrEnum):
    """Review workflow of an FAQ; only ``published`` entries are served."""

    draft = "draft"
    submitted = "submitted"
    published = "published"
    archived = "archived"


class Service(Base):
    """A public service from the catalog, with its full service guide."""

    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # catalog id
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64), index=True)
    audience: Mapped[Audience] = mapped_column(Enum(Audience, native_enum=False, length=16))
    department: Mapped[str] = mapped_column(String(200), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    eligibility: Mapped[str] = mapped_column(Text, default="")
    materials: Mapped[list[Any]] = mapped_column(default=list)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    locations: Mapped[str] = mapped_column(Text, default="")
    time_limit: Mapped[str] = mapped_column(Text, default="")
    fees: Mapped[str] = mapped_column(Text, default="")
    online_url: Mapped[str] = mapped_column(String(500), default="")
    forms: Mapped[list[Any]] = mapped_column(default=list)
    legal_basis: Mapped[list[Any]] = mapped_column(default=list)
    # {section: {"sms": ..., "spoken": ...}} for each of knowledge.channel_forms.GUIDE_SECTIONS
    channel_forms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Handled only online (no hall books it); ``online_route`` names where, for citizens.
    online_only: Mapped[bool] = mapped_column(Boolean, default=False)
    online_route: Mapped[str] = mapped_column(String(300), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    faqs: Mapped[list[Faq]] = relationship(back_populates="service", order_by="Faq.id")


class Faq(Base):
    """A question-and-answer entry, optionally linked to a service."""

    __tablename__ = "faqs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), index=True, nullable=True
    )
    topic: Mapped[str] = mapped_column(String(32), default="other")
    question: Mapped[str] = mapped_column(Text)
    alternatives: Mapped[list[Any]] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)
    # Short channel forms of ``answer``: one SMS part (the channel adds the "更多" hint) and
    # at most two short sentences to be spoken (see knowledge.channel_forms).
    sms_text: Mapped[str] = mapped_column(Text, default="")
    spoken_text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[FaqStatus] = mapped_column(
        Enum(FaqStatus, native_enum=False, length=16), default=FaqStatus.draft, index=True
    )
    owner_department: Mapped[str] = mapped_column(String(200), default="")
    effective_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    expires_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(100), default="system")
    updated_by: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    service: Mapped[Service | None] = relationship(back_populates="faqs")

    def is_live(self, today: dt.date) -> bool:
        """Whether the entry may be served to citizens on ``today``."""
        return (
            self.status == FaqStatus.published
            and (self.effective_from is None or self.effective_from <= today)
            and (self.expires_on is None or today <= self.expires_on)
        )


center_services = Table(
    "center_services",
    Base.metadata,
    Column("center_id", ForeignKey("service_centers.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class ServiceCenter(Base):
    """A venue where citizens handle services in person (its ``type`` from knowledge.validation.VENUE_TYPES)."""

    __tablename__ = "service_centers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32), default="district_center", index=True)
    district: Mapped[str] = mapped_column(String(32), index=True)
    address: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str] = mapped_column(String(40), default="")  # "" until staff enter the published number
    opening_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hours_text: Mapped[str] = mapped_column(String(300), default="")
    slot_capacity: Mapped[int] = mapped_column(Integer, default=4)
    all_services: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    services: Mapped[list[Service]] = relationship(secondary=center_services, order_by="Service.id")

    def offers(self, service_id: str) -> bool:
        """Whether citizens can handle ``service_id`` here."""
        return self.all_services or any(s.id == service_id for s in self.services)

    @property
    def public_phone(self) -> str:
        """The number citizens are told: the published one, or the 12345 hotline until staff enter it."""
        return self.phone or HOTLINE


class AuditEntry(Base):
    """One change (or login) in the knowledge base: who, when, what, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))  # create | update | delete | import | login ...
    entity_type: Mapped[str] = mapped_column(String(32), index=True)
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    note: Mapped[str] = mapped_column(String(500), default="")


class KbRevision(Base):
    """A single counter bumped in the same transaction as every content change.

    Search processes compare it with the revision their index was built from, so an
    edit is visible to every process at once without restart or retraining.
    """

    __tablename__ = "kb_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.current_timestamp()
    )
