"""Index staff_login_attempts on `at` alone: each sign-in deletes the attempts older than 30 days, and
without it that delete scans the whole table under the sign-in lock (slow after a flood of attempts).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 01:00:00

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: Union[str, None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_staff_login_attempts_at", "staff_login_attempts", ["at"])


def downgrade() -> None:
    op.drop_index("ix_staff_login_attempts_at", table_name="staff_login_attempts")
