"""Who may see a row: the caller's company, or staff. Used inside each WHERE."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from database.models import Customer


def visible_to(wa_id: str, owner_company_id: ColumnElement) -> ColumnElement:
    """Return a condition true when `wa_id` is staff or a contact of the company `owner_company_id`.

    An unregistered wa_id matches no caller row, so it sees nothing.
    """
    caller = aliased(Customer, name="caller")
    return (
        select(caller.id)
        .where(caller.wa_id == wa_id, or_(caller.role == "staff", caller.company_id == owner_company_id))
        .exists()
    )
