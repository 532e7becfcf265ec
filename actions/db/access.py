"""Who may see a row: the caller's company, or staff. Used inside each WHERE."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from actions.db.models import Customer


def visible_to(wa_id: str, owner_company: ColumnElement) -> ColumnElement:
    """Return a condition true when `wa_id` is staff or works for `owner_company`.

    An unregistered wa_id matches no caller row, so it sees nothing.
    """
    caller = aliased(Customer, name="caller")
    return (
        select(caller.id)
        .where(caller.wa_id == wa_id, or_(caller.role == "staff", caller.company == owner_company))
        .exists()
    )
