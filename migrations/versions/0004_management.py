"""Create the operator tables: handoffs (written by the action server) and notifications.

Revision ID: 0004
Revises: 0002
Create Date: 2024-01-04 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wa_id", sa.String(length=160), nullable=False),
        sa.Column("open_key", sa.String(length=160), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(), nullable=False),
        sa.Column("staff_replies", sa.Integer(), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("released_by", sa.String(length=10), nullable=True),
        sa.CheckConstraint("state IN ('waiting', 'released')", name="ck_handoffs_state"),
        sa.PrimaryKeyConstraint("id", name="pk_handoffs"),
        sa.UniqueConstraint("open_key", name="uq_handoffs_open_key"),
    )
    op.create_index("ix_handoffs_wa_id", "handoffs", ["wa_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("wa_id", sa.String(length=160), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("outbox_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("entity", "ref", "status", name="uq_notifications_entity"),
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_index("ix_handoffs_wa_id", table_name="handoffs")
    op.drop_table("handoffs")
