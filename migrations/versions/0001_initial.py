"""Create the business tables: customers, orders, events, defects, runs, tickets.

Revision ID: 0001
Revises:
Create Date: 2024-01-01 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Frozen copies of the allowed values as of this revision.
ORDER_STATUS_CHECK = (
    "status IN ('received', 'in_production', 'ready', 'shipped', 'delivered', 'cancelled')"
)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wa_id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("company", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("role IN ('customer', 'staff')", name="ck_customers_role"),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("wa_id", name="uq_customers_wa_id"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=120), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("placed_on", sa.Date(), nullable=False),
        sa.Column("promised_on", sa.Date(), nullable=False),
        sa.Column("estimated_on", sa.Date(), nullable=True),
        sa.Column("carrier", sa.String(length=60), nullable=True),
        sa.Column("tracking_no", sa.String(length=60), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(ORDER_STATUS_CHECK, name="ck_orders_status"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_orders_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("ref", name="uq_orders_ref"),
    )
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(ORDER_STATUS_CHECK, name="ck_order_events_status"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_events_order_id_orders"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
    )
    op.create_index("ix_order_events_order_id", "order_events", ["order_id"])
    op.create_table(
        "defect_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=20), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("photo_ref", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'investigating', 'resolved')", name="ck_defect_reports_status"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_defect_reports_order_id_orders"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_defect_reports_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_defect_reports"),
        sa.UniqueConstraint("ref", name="uq_defect_reports_ref"),
    )
    op.create_index("ix_defect_reports_order_id", "defect_reports", ["order_id"])
    op.create_index("ix_defect_reports_customer_id", "defect_reports", ["customer_id"])
    op.create_table(
        "production_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line", sa.String(length=40), nullable=False),
        sa.Column("product", sa.String(length=120), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("planned_qty", sa.Integer(), nullable=False),
        sa.Column("done_qty", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "status IN ('planned', 'running', 'done', 'delayed')",
            name="ck_production_runs_status",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_production_runs_order_id_orders"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_production_runs"),
    )
    op.create_index("ix_production_runs_order_id", "production_runs", ["order_id"])
    op.create_index("ix_production_runs_starts_at", "production_runs", ["starts_at"])
    op.create_table(
        "support_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=20), nullable=False),
        sa.Column("wa_id", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_support_tickets_status"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_support_tickets_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_support_tickets"),
        sa.UniqueConstraint("ref", name="uq_support_tickets_ref"),
    )
    op.create_index("ix_support_tickets_wa_id", "support_tickets", ["wa_id"])
    op.create_index("ix_support_tickets_customer_id", "support_tickets", ["customer_id"])


def downgrade() -> None:
    for table in (
        "support_tickets",
        "production_runs",
        "defect_reports",
        "order_events",
        "orders",
        "customers",
    ):
        op.drop_table(table)
