"""Who is writing: a registered customer, staff, or nobody we know."""

from __future__ import annotations

from sqlalchemy import select

from database.models import Customer
from database.session import sessions
from database.views import CustomerView


def find_customer(wa_id: str) -> CustomerView | None:
    """Return the registered person behind `wa_id`, or None for an unknown number."""
    stmt = select(Customer).where(Customer.wa_id == wa_id)
    with sessions()() as session:
        row = session.scalars(stmt).first()
        if row is None:
            return None
        return CustomerView(wa_id=row.wa_id, name=row.name, company=row.company, role=row.role)
