"""Orders as the caller may see them: their company's, or all for staff."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.sql import Select

from database.access import visible_to
from database.models import Company, Order, OrderEvent
from database.session import sessions
from database.views import OrderView


def _latest_event(column):
    return (
        select(column)
        .where(OrderEvent.order_id == Order.id)
        .order_by(OrderEvent.at.desc(), OrderEvent.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _visible_orders(wa_id: str) -> Select:
    return (
        select(
            Order,
            Company.name,
            _latest_event(func.coalesce(OrderEvent.note, OrderEvent.status)),
            _latest_event(OrderEvent.at),
        )
        .join(Order.company)
        .where(visible_to(wa_id, Order.company_id))
    )


def _to_view(order: Order, company: str, last_event: str | None, last_event_at) -> OrderView:
    return OrderView(
        ref=order.ref,
        product=order.product,
        quantity=order.quantity,
        status=order.status,
        placed_on=order.placed_on,
        promised_on=order.promised_on,
        estimated_on=order.estimated_on,
        carrier=order.carrier,
        tracking_no=order.tracking_no,
        company=company,
        last_event=last_event,
        last_event_at=last_event_at,
    )


def recent_orders(wa_id: str, limit: int = 5, offset: int = 0) -> list[OrderView]:
    """Return one page of the caller's orders, newest placed first."""
    stmt = (
        _visible_orders(wa_id)
        .order_by(Order.placed_on.desc(), Order.id.desc())
        .limit(limit)
        .offset(offset)
    )
    with sessions()() as session:
        return [_to_view(*row) for row in session.execute(stmt)]


def count_orders(wa_id: str) -> int:
    """Return how many orders the caller may see."""
    stmt = (
        select(func.count(Order.id))
        .where(visible_to(wa_id, Order.company_id))
    )
    with sessions()() as session:
        return session.scalar(stmt)


def find_order(wa_id: str, ref: str) -> OrderView | None:
    """Return order `ref` if the caller may see it; otherwise None, as if it did not exist."""
    stmt = _visible_orders(wa_id).where(Order.ref == ref)
    with sessions()() as session:
        row = session.execute(stmt).first()
        return _to_view(*row) if row else None
