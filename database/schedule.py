"""Production runs: customers see runs for their company's orders, staff see every line."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.sql import Select

from database.access import visible_to
from database.clock import to_naive_utc
from database.models import Order, ProductionRun
from database.session import sessions
from database.views import RunView


def _visible_runs(wa_id: str) -> Select:
    # Stock runs have no order, so no owner company: only staff match them.
    return (
        select(ProductionRun, Order.ref)
        .outerjoin(ProductionRun.order)
        .where(visible_to(wa_id, Order.company_id))
        .order_by(ProductionRun.starts_at, ProductionRun.line, ProductionRun.id)
    )


def _fetch(stmt: Select) -> list[RunView]:
    with sessions()() as session:
        return [
            RunView(
                line=run.line,
                product=run.product,
                order_ref=order_ref,
                planned_qty=run.planned_qty,
                done_qty=run.done_qty,
                starts_at=run.starts_at,
                ends_at=run.ends_at,
                status=run.status,
            )
            for run, order_ref in session.execute(stmt)
        ]


def runs_between(wa_id: str, start_utc: datetime, end_utc: datetime) -> list[RunView]:
    """Return the caller's runs overlapping [start_utc, end_utc), earliest first."""
    stmt = _visible_runs(wa_id).where(
        ProductionRun.starts_at < to_naive_utc(end_utc),
        ProductionRun.ends_at > to_naive_utc(start_utc),
    )
    return _fetch(stmt)


def active_runs(wa_id: str, now_utc: datetime) -> list[RunView]:
    """Return the caller's runs that are running, delayed, or scheduled across `now_utc`."""
    now = to_naive_utc(now_utc)
    stmt = _visible_runs(wa_id).where(
        or_(
            ProductionRun.status.in_(("running", "delayed")),
            (ProductionRun.starts_at <= now) & (ProductionRun.ends_at > now),
        )
    )
    return _fetch(stmt)
