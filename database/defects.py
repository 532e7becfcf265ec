"""Defect reports on orders the caller may see, and filing new ones."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.sql import Select

from database.access import visible_to
from database.clock import utcnow
from database.models import Customer, DefectReport, Order
from database.refs import next_ref, retry_on_clash
from database.session import lock_for_write, sessions
from database.views import DefectView


def _visible_defects(wa_id: str) -> Select:
    # Visibility follows the order's owner, whoever filed the report.
    return (
        select(DefectReport, Order.ref)
        .join(DefectReport.order)
        .where(visible_to(wa_id, Order.company_id))
    )


def _to_view(defect: DefectReport, order_ref: str) -> DefectView:
    return DefectView(
        ref=defect.ref,
        order_ref=order_ref,
        description=defect.description,
        photo_ref=defect.photo_ref,
        status=defect.status,
        resolution=defect.resolution,
        created_at=defect.created_at,
        updated_at=defect.updated_at,
    )


def defect_history(wa_id: str, limit: int = 5, offset: int = 0) -> list[DefectView]:
    """Return one page of the caller's defect reports, newest first."""
    stmt = (
        _visible_defects(wa_id)
        .order_by(DefectReport.created_at.desc(), DefectReport.id.desc())
        .limit(limit)
        .offset(offset)
    )
    with sessions()() as session:
        return [_to_view(*row) for row in session.execute(stmt)]


def count_defects(wa_id: str) -> int:
    """Return how many defect reports the caller may see."""
    stmt = (
        select(func.count(DefectReport.id))
        .join(DefectReport.order)
        .where(visible_to(wa_id, Order.company_id))
    )
    with sessions()() as session:
        return session.scalar(stmt)


def find_defect(wa_id: str, ref: str) -> DefectView | None:
    """Return defect `ref` if the caller may see it; otherwise None, as if it did not exist."""
    stmt = _visible_defects(wa_id).where(DefectReport.ref == ref)
    with sessions()() as session:
        row = session.execute(stmt).first()
        return _to_view(*row) if row else None


def create_defect(
    wa_id: str, order_ref: str, description: str, photo_ref: str | None = None
) -> DefectView | None:
    """File an open defect on `order_ref`; None when the caller may not see that order."""
    return retry_on_clash(lambda: _insert_defect(wa_id, order_ref, description, photo_ref))


def _insert_defect(
    wa_id: str, order_ref: str, description: str, photo_ref: str | None
) -> DefectView | None:
    order_stmt = (
        select(Order.id)
        .where(Order.ref == order_ref, visible_to(wa_id, Order.company_id))
    )
    with sessions().begin() as session:
        lock_for_write(session, "ref:DEF")
        order_id = session.scalar(order_stmt)
        if order_id is None:
            return None
        reporter_id = session.scalar(select(Customer.id).where(Customer.wa_id == wa_id))
        now = utcnow()
        defect = DefectReport(
            ref=next_ref(session, DefectReport.ref, "DEF"),
            order_id=order_id,
            customer_id=reporter_id,
            description=description,
            photo_ref=photo_ref,
            status="open",
            created_at=now,
            updated_at=now,
        )
        session.add(defect)
        session.flush()  # a ref clash raises here, inside the retried transaction
        return _to_view(defect, order_ref)
