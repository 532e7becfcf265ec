"""Drop whatsapp_leases: nothing writes or reads it since the drains' lease rows were removed.

The claims' own leases (lease_owner, lease_until on whatsapp_inbound and whatsapp_outbox) keep two
instances off one sender. Downgrade recreates the empty table as 0002 made it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: Union[str, None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_table("whatsapp_leases")


def downgrade() -> None:
    op.create_table(
        "whatsapp_leases",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_whatsapp_leases"),
    )
