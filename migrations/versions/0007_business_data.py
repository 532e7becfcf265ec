"""Companies and the business's own references, so the data API's upserts are idempotent.

`companies` (unique ref) owns its WhatsApp contacts (`customers.company_id`) and its orders
(`orders.company_id`); an order's `customer_id` becomes optional (who gets its news); production runs
get a unique `ref`. Existing rows are carried over: one company per distinct `customers.company`
(ref: the name in capitals with dashes), each order to its contact's company, each run `RUN-<id>`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 00:00:00

"""
import re
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: Union[str, None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def company_ref(name: str, taken: set[str]) -> str:
    """Return a ref for a company name not yet in taken: "Asha Traders" -> "ASHA-TRADERS"."""
    base = re.sub(r"[^A-Z0-9]+", "-", name.upper()).strip("-")[:34] or "COMPANY"
    ref, n = base, 1
    while ref in taken:
        n += 1
        ref = f"{base}-{n}"
    taken.add(ref)
    return ref


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
        sa.UniqueConstraint("ref", name="uq_companies_ref"),
    )
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("company_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("title", sa.String(length=60), nullable=True))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("company_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("production_runs") as batch:
        batch.add_column(sa.Column("ref", sa.String(length=40), nullable=True))

    bind = op.get_bind()
    taken: set[str] = set()
    names = [row[0] for row in bind.execute(sa.text("SELECT DISTINCT company FROM customers ORDER BY company"))]
    for name in names:
        bind.execute(sa.text("INSERT INTO companies (ref, name, created_at, updated_at) "
                             "VALUES (:ref, :name, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                     {"ref": company_ref(name, taken), "name": name})
    bind.execute(sa.text("UPDATE customers SET company_id = "
                         "(SELECT id FROM companies WHERE companies.name = customers.company)"))
    bind.execute(sa.text("UPDATE orders SET company_id = "
                         "(SELECT company_id FROM customers WHERE customers.id = orders.customer_id)"))
    bind.execute(sa.text("UPDATE production_runs SET ref = 'RUN-' || CAST(id AS VARCHAR(20))"))

    with op.batch_alter_table("customers") as batch:
        batch.alter_column("company_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_customers_company_id_companies", "companies", ["company_id"], ["id"])
        batch.create_index("ix_customers_company_id", ["company_id"])
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("company_id", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("customer_id", existing_type=sa.Integer(), nullable=True)
        batch.create_foreign_key("fk_orders_company_id_companies", "companies", ["company_id"], ["id"])
        batch.create_index("ix_orders_company_id", ["company_id"])
    with op.batch_alter_table("production_runs") as batch:
        batch.alter_column("ref", existing_type=sa.String(length=40), nullable=False)
        batch.create_unique_constraint("uq_production_runs_ref", ["ref"])


def downgrade() -> None:
    with op.batch_alter_table("production_runs") as batch:
        batch.drop_constraint("uq_production_runs_ref", type_="unique")
        batch.drop_column("ref")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_company_id")
        batch.drop_constraint("fk_orders_company_id_companies", type_="foreignkey")
        batch.drop_column("company_id")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index("ix_customers_company_id")
        batch.drop_constraint("fk_customers_company_id_companies", type_="foreignkey")
        batch.drop_column("title")
        batch.drop_column("company_id")
    op.drop_table("companies")
