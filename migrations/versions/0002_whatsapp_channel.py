"""Create the WhatsApp channel tables: webhooks, inbound, outbox, statuses, contacts, leases.

Revision ID: 0002
Revises: 0001
Create Date: 2024-01-02 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("signature_ok", sa.Boolean(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("statuses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_whatsapp_webhooks"),
    )
    op.create_table(
        "whatsapp_inbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wamid", sa.String(length=255), nullable=False),
        sa.Column("wa_id", sa.String(length=160), nullable=False),
        sa.Column("phone_number_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=120), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'processing', 'done', 'expired', 'ignored')",
            name="ck_whatsapp_inbound_state",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_whatsapp_inbound"),
        sa.UniqueConstraint("wamid", name="uq_whatsapp_inbound_wamid"),
    )
    op.create_index("ix_whatsapp_inbound_state_wa_id", "whatsapp_inbound", ["state", "wa_id"])
    op.create_index(
        "ix_whatsapp_inbound_wa_id_timestamp", "whatsapp_inbound", ["wa_id", "timestamp", "id"]
    )
    op.create_table(
        "whatsapp_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wa_id", sa.String(length=160), nullable=False),
        sa.Column("inbound_wamid", sa.String(length=255), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("graph_wamid", sa.String(length=255), nullable=True),
        sa.Column("last_error_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=120), nullable=True),
        sa.Column("delivery_status", sa.String(length=16), nullable=True),
        sa.Column("status_rank", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'sending', 'sent', 'failed')", name="ck_whatsapp_outbox_state"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_whatsapp_outbox"),
        sa.UniqueConstraint("inbound_wamid", "seq", name="uq_whatsapp_outbox_inbound_wamid"),
    )
    op.create_index("ix_whatsapp_outbox_state_wa_id", "whatsapp_outbox", ["state", "wa_id"])
    op.create_index("ix_whatsapp_outbox_wa_id_id", "whatsapp_outbox", ["wa_id", "id"])
    op.create_index("ix_whatsapp_outbox_graph_wamid", "whatsapp_outbox", ["graph_wamid"])
    op.create_table(
        "whatsapp_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wamid", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recipient_id", sa.String(length=160), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("error_codes", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_whatsapp_statuses"),
        sa.UniqueConstraint("wamid", "status", name="uq_whatsapp_statuses_wamid"),
    )
    op.create_table(
        "whatsapp_contacts",
        sa.Column("wa_id", sa.String(length=160), nullable=False),
        sa.Column("user_id", sa.String(length=160), nullable=True),
        sa.Column("profile_name", sa.String(length=255), nullable=True),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("opted_out_at", sa.DateTime(), nullable=True),
        sa.Column("marketing_stopped", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("wa_id", name="pk_whatsapp_contacts"),
    )
    op.create_table(
        "whatsapp_leases",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_whatsapp_leases"),
    )


def downgrade() -> None:
    for table in ("whatsapp_leases", "whatsapp_contacts", "whatsapp_statuses"):
        op.drop_table(table)
    op.drop_index("ix_whatsapp_outbox_graph_wamid", table_name="whatsapp_outbox")
    op.drop_index("ix_whatsapp_outbox_wa_id_id", table_name="whatsapp_outbox")
    op.drop_index("ix_whatsapp_outbox_state_wa_id", table_name="whatsapp_outbox")
    op.drop_table("whatsapp_outbox")
    op.drop_index("ix_whatsapp_inbound_wa_id_timestamp", table_name="whatsapp_inbound")
    op.drop_index("ix_whatsapp_inbound_state_wa_id", table_name="whatsapp_inbound")
    op.drop_table("whatsapp_inbound")
    op.drop_table("whatsapp_webhooks")
