"""Tables of the staff console: accounts and the review workflow of FAQ changes.

Same database and Alembic history as the knowledge base (migration ``0003``). Content
itself stays in :mod:`knowledge.models`; every change to it is still audited there.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.models import Base, utcnow


class Role(enum.StrEnum):
    """What a staff member may do (see ``console.web.permissions``)."""

    editor = "editor"
    reviewer = "reviewer"
    admin = "admin"
    agent = "agent"  # live agents (转人工): the agent queue; reads the knowledge base
    dispatcher = "dispatcher"  # 派单员: sees every case and routes it
    handler = "handler"  # works the cases of their department


class StaffUser(Base):
    """A staff account of the console.

    ``auth_epoch`` is part of the login session id: bumping it (password change,
    deactivation, role change) signs the account out everywhere at once.
    """

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    auth_epoch: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    department_id: Mapped[str] = mapped_column(String(64), default="")  # casework.departments id (case desk)


class ProposalStatus(enum.StrEnum):
    """Lifecycle of a proposed change to a published FAQ."""

    draft = "draft"
    submitted = "submitted"
    rejected = "rejected"
    applied = "applied"
    withdrawn = "withdrawn"


class FaqProposal(Base):
    """A change to a *published* FAQ, waiting for a second person's review.

    The published answer keeps being served until a reviewer who is not one of the
    proposal's ``authors`` approves it; the change is then applied (and audited) in
    one transaction. Drafts of FAQs that were never published are edited in place.
    """

    __tablename__ = "faq_proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    faq_id: Mapped[int] = mapped_column(ForeignKey("faqs.id", ondelete="CASCADE"), index=True)
    base_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[ProposalStatus] = mapped_column(
        Enum(ProposalStatus, native_enum=False, length=16), default=ProposalStatus.draft, index=True)
    authors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reviewer: Mapped[str] = mapped_column(String(100), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ReviewEvent(Base):
    """One step of the review workflow (submit, approve, reject, withdraw) with its comment."""

    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    faq_id: Mapped[int] = mapped_column(Integer, index=True)  # kept after the FAQ is deleted
    proposal_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(Text, default="")
