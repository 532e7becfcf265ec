"""Remember the timestamp of the marketing preference last applied to a contact.

Meta may deliver `user_preferences` late or again; a stop or resume older than the one applied is
ignored, so a replayed "resume" cannot undo a later "stop".

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: Union[str, None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_contacts") as batch:
        batch.add_column(sa.Column("marketing_preference_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_contacts") as batch:
        batch.drop_column("marketing_preference_at")
