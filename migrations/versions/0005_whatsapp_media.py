"""Create whatsapp_media: one row per downloaded inbound file (daily quota per sender, retention).

Revision ID: 0005
Revises: 0004
Create Date: 2024-01-05 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wamid", sa.String(length=255), nullable=False),
        sa.Column("wa_id", sa.String(length=160), nullable=False),
        sa.Column("media_id", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("downloaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_whatsapp_media"),
        sa.UniqueConstraint("wamid", name="uq_whatsapp_media_wamid"),
    )
    op.create_index("ix_whatsapp_media_wa_id_downloaded_at", "whatsapp_media", ["wa_id", "downloaded_at"])
    op.create_index("ix_whatsapp_media_downloaded_at", "whatsapp_media", ["downloaded_at"])


def downgrade() -> None:
    op.drop_index("ix_whatsapp_media_downloaded_at", table_name="whatsapp_media")
    op.drop_index("ix_whatsapp_media_wa_id_downloaded_at", table_name="whatsapp_media")
    op.drop_table("whatsapp_media")
