"""Create order_documents: the current invoice, packing list or test certificate of an order.

A document is a file under DOCUMENTS_DIR (storage_path) or an https URL, never both; one row per
order and kind, replaced on re-upload.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: Union[str, None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "order_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("storage_path", sa.String(length=1000), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('invoice', 'packing_list', 'test_certificate')",
                           name="ck_order_documents_kind"),
        sa.CheckConstraint("(storage_path IS NULL) <> (url IS NULL)", name="ck_order_documents_source"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_order_documents_order_id_orders"),
        sa.PrimaryKeyConstraint("id", name="pk_order_documents"),
        sa.UniqueConstraint("order_id", "kind", name="uq_order_documents_order_id_kind"),
    )


def downgrade() -> None:
    op.drop_table("order_documents")
