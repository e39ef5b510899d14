"""channel forms of answers, online-only services, venue types

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 13:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faqs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sms_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("spoken_text", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel_forms", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("online_only", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("online_route", sa.String(length=300), nullable=False, server_default=""))
    with op.batch_alter_table("service_centers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("type", sa.String(length=32), nullable=False,
                                      server_default="district_center"))
        batch_op.create_index(batch_op.f("ix_service_centers_type"), ["type"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("service_centers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_centers_type"))
        batch_op.drop_column("type")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("online_route")
        batch_op.drop_column("online_only")
        batch_op.drop_column("channel_forms")
    with op.batch_alter_table("faqs", schema=None) as batch_op:
        batch_op.drop_column("spoken_text")
        batch_op.drop_column("sms_text")
