"""Read the business data back in the shape it is written: pages by primary key, or one record by its key."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from sqlalchemy import select
from sqlalchemy.sql import Select

from database.models import Company, Customer, DefectReport, Order, OrderEvent, ProductionRun
from database.session import sessions
from connectors.data.rows import (CompanyRecord, ContactRecord, DefectRecord, OrderRecord, RunRecord, to_json)


@dataclass(frozen=True)
class Source:
    """How one kind is read: the statement, its id and key columns, and the record of a result row."""

    statement: Callable[[], Select]
    id_column: Any
    key_column: Any
    company_column: Optional[Any]  # what ?company_ref= filters on, if anything
    to_record: Callable[[Any], Any]


def _latest_event(column: Any) -> Any:
    return (select(column).where(OrderEvent.order_id == Order.id)
            .order_by(OrderEvent.at.desc(), OrderEvent.id.desc()).limit(1).scalar_subquery())


def _companies() -> Select:
    return select(Company)


def _contacts() -> Select:
    return select(Customer, Company.ref).join(Company, Company.id == Customer.company_id)


def _orders() -> Select:
    return (select(Order, Company.ref, Customer.wa_id, _latest_event(OrderEvent.note), _latest_event(OrderEvent.at))
            .join(Company, Company.id == Order.company_id)
            .join(Customer, Customer.id == Order.customer_id, isouter=True))


def _runs() -> Select:
    return select(ProductionRun, Order.ref).join(Order, Order.id == ProductionRun.order_id, isouter=True)


def _defects() -> Select:
    return (select(DefectReport, Order.ref, Customer.wa_id)
            .join(Order, Order.id == DefectReport.order_id)
            .join(Customer, Customer.id == DefectReport.customer_id))


def _order_record(row: Any) -> OrderRecord:
    order, company_ref, wa_id, note, at = row
    return OrderRecord(order.ref, company_ref, wa_id, order.product, order.quantity, order.status, order.placed_on,
                       order.promised_on, order.estimated_on, order.carrier, order.tracking_no, note, at)


SOURCES: dict[str, Source] = {
    "companies": Source(_companies, Company.id, Company.ref, None,
                        lambda row: CompanyRecord(row[0].ref, row[0].name)),
    "contacts": Source(_contacts, Customer.id, Customer.wa_id, Company.ref,
                       lambda row: ContactRecord(row[0].wa_id, row[1], row[0].name, row[0].role, row[0].title)),
    "orders": Source(_orders, Order.id, Order.ref, Company.ref, _order_record),
    "production-runs": Source(_runs, ProductionRun.id, ProductionRun.ref, None,
                              lambda row: RunRecord(row[0].ref, row[0].line, row[0].product, row[1],
                                                    row[0].planned_qty, row[0].done_qty, row[0].starts_at,
                                                    row[0].ends_at, row[0].status)),
    "defects": Source(_defects, DefectReport.id, DefectReport.ref, None,
                      lambda row: DefectRecord(row[0].ref, row[0].status, row[0].resolution, row[1], row[2],
                                               row[0].description, row[0].created_at)),
}


def page(kind_name: str, limit: int, after_id: Optional[int] = None,
         company_ref: Optional[str] = None) -> tuple[list[dict[str, Any]], Optional[int]]:
    """Return up to limit records after after_id, oldest first, and the id to continue after (None: no more)."""
    source = SOURCES[kind_name]
    stmt = source.statement().add_columns(source.id_column).order_by(source.id_column).limit(limit + 1)
    if after_id is not None:
        stmt = stmt.where(source.id_column > after_id)
    if company_ref is not None and source.company_column is not None:
        stmt = stmt.where(source.company_column == company_ref)
    with sessions()() as session:
        rows = session.execute(stmt).all()
        items = [to_json(source.to_record(row[:-1])) for row in rows[:limit]]
    return items, (rows[limit - 1][-1] if len(rows) > limit else None)


def one(kind_name: str, key: str) -> Optional[dict[str, Any]]:
    """Return the record whose key (ref, or wa_id for contacts) is key, or None."""
    source = SOURCES[kind_name]
    with sessions()() as session:
        row = session.execute(source.statement().where(source.key_column == key)).first()
        return to_json(source.to_record(row)) if row is not None else None
