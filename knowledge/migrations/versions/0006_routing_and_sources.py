"""routing decisions of the case desk, sync cursors of application sources

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03 16:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_number", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("suggested", sa.String(length=64), nullable=False),
        sa.Column("chosen", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routing_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_decisions_case_number"), ["case_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_routing_decisions_chosen"), ["chosen"], unique=False)
    op.create_table(
        "application_sync_state",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("application_sync_state")
    with op.batch_alter_table("routing_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_decisions_chosen"))
        batch_op.drop_index(batch_op.f("ix_routing_decisions_case_number"))
    op.drop_table("routing_decisions")
