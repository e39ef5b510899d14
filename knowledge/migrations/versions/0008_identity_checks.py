"""citizen-facing guards: identity checks per number/sender/client, phone codes, booking origins

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-03 16:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject_hash", sa.String(length=32), nullable=False),
        sa.Column("sender_hash", sa.String(length=32), nullable=False),
        sa.Column("client_hash", sa.String(length=32), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_identity_checks_at", "identity_checks", ["at"])
    for col in ("subject_hash", "sender_hash", "client_hash"):
        op.create_index(f"ix_identity_checks_{col}", "identity_checks", [col])
    op.create_table(
        "phone_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("phone_hash", sa.String(length=32), nullable=False),
        sa.Column("session_hash", sa.String(length=32), nullable=False),
        sa.Column("client_hash", sa.String(length=32), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("proved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_phone_codes_created_at", "phone_codes", ["created_at"])
    for col in ("phone_hash", "session_hash", "client_hash"):
        op.create_index(f"ix_phone_codes_{col}", "phone_codes", [col])
    op.create_table(
        "booking_origins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("booking_ref", sa.String(length=16), nullable=False),
        sa.Column("center_id", sa.String(length=64), nullable=False),
        sa.Column("client_hash", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_booking_origins_at", "booking_origins", ["at"])
    for col in ("booking_ref", "center_id", "client_hash"):
        op.create_index(f"ix_booking_origins_{col}", "booking_origins", [col])


def downgrade() -> None:
    for table in ("booking_origins", "phone_codes", "identity_checks"):
        op.drop_table(table)
