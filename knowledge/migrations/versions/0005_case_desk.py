"""case desk: routing, deadlines, reply address and rating of cases; case history, replies,
reply templates; staff departments

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 16:15:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0008"
branch_labels = None
depends_on = None

CASE_COLUMNS = [
    ("department_id", sa.String(length=64), "''"),
    ("suggested_department", sa.String(length=64), "''"),
    ("assignee", sa.String(length=64), "''"),
    ("contact_sealed", sa.Text(), "''"),
    ("reply_channel", sa.String(length=32), "''"),
    ("reply_to", sa.Text(), "''"),
    ("reply_thread", sa.String(length=300), "''"),
    ("excerpt", sa.Text(), "''"),
    ("rating", sa.String(length=16), "''"),
]


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name, type_, default in CASE_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=False, server_default=sa.text(default)))
        batch_op.add_column(sa.Column("suggested_confidence", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index(batch_op.f("ix_cases_department_id"), ["department_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_due_at"), ["due_at"], unique=False)
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.String(length=64), nullable=False, server_default=""))

    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_number", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=False),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_number"], ["cases.number"], ondelete="CASCADE",
                                name=op.f("fk_case_events_case_number_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index(op.f("ix_case_events_case_number"), "case_events", ["case_number"], unique=False)
    op.create_table(
        "case_replies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_number", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_number"], ["cases.number"], ondelete="CASCADE",
                                name=op.f("fk_case_replies_case_number_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_replies")),
    )
    op.create_index(op.f("ix_case_replies_case_number"), "case_replies", ["case_number"], unique=False)
    op.create_table(
        "case_reply_templates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_reply_templates")),
    )
    op.create_index(op.f("ix_case_reply_templates_department_id"), "case_reply_templates", ["department_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_case_reply_templates_department_id"), table_name="case_reply_templates")
    op.drop_table("case_reply_templates")
    op.drop_index(op.f("ix_case_replies_case_number"), table_name="case_replies")
    op.drop_table("case_replies")
    op.drop_index(op.f("ix_case_events_case_number"), table_name="case_events")
    op.drop_table("case_events")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("department_id")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_due_at"))
        batch_op.drop_index(batch_op.f("ix_cases_department_id"))
        for name in ("reopen_count", "rated_at", "closed_at", "replied_at", "due_at", "suggested_confidence"):
            batch_op.drop_column(name)
        for name, _, _ in reversed(CASE_COLUMNS):
            batch_op.drop_column(name)
