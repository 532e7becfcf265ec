"""Upsert validated records into the business tables, keyed by the business's own references.

`apply` writes one kind's records inside the caller's transaction and returns each row's outcome
(created, updated, unchanged) or, for references that lead nowhere, problems; the caller then rolls
the whole transaction back, so nothing is half-written. Sending a row again changes nothing. An
order whose status changes gets an order event in the same transaction, which the notification scan
(connectors/management/notify.py) announces once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from database.clock import utcnow
from database.models import Company, Customer, DefectReport, Order, OrderEvent, ProductionRun
from database.session import lock_for_write, sessions
from connectors.data.rows import (COMPANIES, CONTACTS, DEFECTS, ORDERS, PRODUCTION_RUNS, CompanyRecord,
                                  ContactRecord, DefectRecord, Kind, OrderRecord, Problem, Record, RunRecord)

WRITE_LOCK = "data"  # one writer of business data at a time (PostgreSQL advisory lock key)


class Rejected(Exception):
    """Some rows cannot be written; the transaction must roll back."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


@dataclass
class Outcome:
    """What one kind's upsert did, row by row, or why it cannot."""

    keys: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)  # created, updated, unchanged
    problems: list[Problem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Return how many rows were created, updated and left unchanged."""
        return {name: self.outcomes.count(name) for name in ("created", "updated", "unchanged")}

    def add(self, key: str, outcome: str) -> None:
        """Record one row's outcome."""
        self.keys.append(key)
        self.outcomes.append(outcome)


def write(kind: Kind, records: Sequence[Record]) -> Outcome:
    """Upsert one batch in its own transaction; raise Rejected (nothing written) on any problem."""
    with sessions().begin() as session:
        lock_for_write(session, WRITE_LOCK)
        outcome = apply(session, kind, records)
        if outcome.problems:
            raise Rejected(outcome.problems)  # leaving the block rolls everything back
        return outcome


def apply(session: Session, kind: Kind, records: Sequence[Record]) -> Outcome:
    """Upsert records of one kind in the session's transaction; problems mean the caller rolls back."""
    outcome = Outcome()
    UPSERTS[kind.name](session, list(records), outcome)
    session.flush()
    return outcome


def _assign(row: Any, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; return True if any did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _put(session: Session, outcome: Outcome, row: Any, new: Callable[[], Any], key: str,
         values: dict[str, Any]) -> None:
    """Add the record made by `new` when there is no row yet, else update the row; count which it was."""
    if row is None:
        session.add(new())
        outcome.add(key, "created")
    else:
        outcome.add(key, "updated" if _assign(row, values) else "unchanged")


def _by(session: Session, column: Any, keys: Iterable[Any]) -> dict[Any, Any]:
    """Return the rows whose column is one of keys, by that column's value."""
    wanted = sorted({k for k in keys if k is not None})
    found: dict[Any, Any] = {}
    for start in range(0, len(wanted), 500):  # stay under every database's bound-parameter limit
        chunk = wanted[start:start + 500]
        for row in session.scalars(select(column.class_).where(column.in_(chunk))):
            found[getattr(row, column.key)] = row
    return found


def _upsert_companies(session: Session, records: list[CompanyRecord], outcome: Outcome) -> None:
    existing = _by(session, Company.ref, (r.ref for r in records))
    for record in records:
        company = existing.get(record.ref)
        if company is None:
            session.add(Company(ref=record.ref, name=record.name))
            outcome.add(record.ref, "created")
        elif _assign(company, {"name": record.name}):
            # Contacts keep a copy of the name that older readers (history, handoffs) show.
            session.execute(update(Customer).where(Customer.company_id == company.id)
                            .values(company=record.name).execution_options(synchronize_session=False))
            outcome.add(record.ref, "updated")
        else:
            outcome.add(record.ref, "unchanged")


def _upsert_contacts(session: Session, records: list[ContactRecord], outcome: Outcome) -> None:
    companies = _by(session, Company.ref, (r.company_ref for r in records))
    existing = _by(session, Customer.wa_id, (r.wa_id for r in records))
    for index, record in enumerate(records):
        company = companies.get(record.company_ref)
        if company is None:
            outcome.problems.append(_unknown(index, "company_ref", "company", record.company_ref))
            continue
        values = {"name": record.name, "company_id": company.id, "company": company.name, "role": record.role,
                  "title": record.title}
        _put(session, outcome, existing.get(record.wa_id),
             lambda: Customer(wa_id=record.wa_id, **values), record.wa_id, values)


def _upsert_orders(session: Session, records: list[OrderRecord], outcome: Outcome) -> None:
    companies = _by(session, Company.ref, (r.company_ref for r in records))
    contacts = _by(session, Customer.wa_id, (r.contact_wa_id for r in records))
    existing = _by(session, Order.ref, (r.ref for r in records))
    now = utcnow()
    for index, record in enumerate(records):
        company = companies.get(record.company_ref)
        if company is None:
            outcome.problems.append(_unknown(index, "company_ref", "company", record.company_ref))
            continue
        contact = contacts.get(record.contact_wa_id)
        if record.contact_wa_id is not None and contact is None:
            outcome.problems.append(_unknown(index, "contact_wa_id", "contact", record.contact_wa_id))
            continue
        if contact is not None and contact.company_id != company.id:
            outcome.problems.append(Problem(index, "contact_wa_id", "contact_not_in_company",
                                            f"contact {record.contact_wa_id} is not a contact of {record.company_ref}"))
            continue
        values = {"company_id": company.id, "customer_id": contact.id if contact else None,
                  "product": record.product, "quantity": record.quantity, "status": record.status,
                  "placed_on": record.placed_on, "promised_on": record.promised_on,
                  "estimated_on": record.estimated_on, "carrier": record.carrier, "tracking_no": record.tracking_no}
        event = OrderEvent(status=record.status, note=record.status_note, at=record.status_at or now)
        order = existing.get(record.ref)
        if order is None:
            session.add(Order(ref=record.ref, updated_at=event.at, events=[event], **values))
            outcome.add(record.ref, "created")
            continue
        status_changed = order.status != record.status
        if not _assign(order, values):
            outcome.add(record.ref, "unchanged")
            continue
        if status_changed:
            event.order_id = order.id
            session.add(event)
        order.updated_at = event.at if status_changed else now
        outcome.add(record.ref, "updated")


def _upsert_runs(session: Session, records: list[RunRecord], outcome: Outcome) -> None:
    orders = _by(session, Order.ref, (r.order_ref for r in records))
    existing = _by(session, ProductionRun.ref, (r.ref for r in records))
    for index, record in enumerate(records):
        order = orders.get(record.order_ref)
        if record.order_ref is not None and order is None:
            outcome.problems.append(_unknown(index, "order_ref", "order", record.order_ref))
            continue
        values = {"line": record.line, "product": record.product, "order_id": order.id if order else None,
                  "planned_qty": record.planned_qty, "done_qty": record.done_qty, "starts_at": record.starts_at,
                  "ends_at": record.ends_at, "status": record.status}
        _put(session, outcome, existing.get(record.ref),
             lambda: ProductionRun(ref=record.ref, **values), record.ref, values)


def _upsert_defects(session: Session, records: list[DefectRecord], outcome: Outcome) -> None:
    orders = _by(session, Order.ref, (r.order_ref for r in records))
    reporters = _by(session, Customer.wa_id, (r.reporter_wa_id for r in records))
    existing = _by(session, DefectReport.ref, (r.ref for r in records))
    now = utcnow()
    for index, record in enumerate(records):
        order, reporter = orders.get(record.order_ref), reporters.get(record.reporter_wa_id)
        problems = []
        if record.order_ref is not None and order is None:
            problems.append(_unknown(index, "order_ref", "order", record.order_ref))
        if record.reporter_wa_id is not None and reporter is None:
            problems.append(_unknown(index, "reporter_wa_id", "contact", record.reporter_wa_id))
        report = existing.get(record.ref)
        if report is None:
            problems += [Problem(index, name, "required", "is required to file a report not seen before")
                         for name in ("order_ref", "reporter_wa_id", "description") if getattr(record, name) is None]
        else:
            if order is not None and order.id != report.order_id:
                problems.append(Problem(index, "order_ref", "immutable", f"{record.ref} is filed on another order"))
            if reporter is not None and reporter.id != report.customer_id:
                problems.append(Problem(index, "reporter_wa_id", "immutable",
                                        f"{record.ref} was reported by another contact"))
        if problems:
            outcome.problems.extend(problems)
            continue
        values = {"status": record.status, "resolution": record.resolution}
        if report is None:
            at = record.reported_at or now
            session.add(DefectReport(ref=record.ref, order_id=order.id, customer_id=reporter.id,
                                     description=record.description, created_at=at, updated_at=at, **values))
            outcome.add(record.ref, "created")
            continue
        if record.description is not None:
            values["description"] = record.description
        outcome.add(record.ref, "updated" if _assign(report, values) else "unchanged")


def _unknown(index: int, field_name: str, what: str, key: str) -> Problem:
    """Return the problem of a reference to a record that does not exist."""
    return Problem(index, field_name, f"unknown_{what}", f"no {what} {key} exists (send it first)")


UPSERTS: dict[str, Callable[[Session, list[Any], Outcome], None]] = {
    COMPANIES.name: _upsert_companies,
    CONTACTS.name: _upsert_contacts,
    ORDERS.name: _upsert_orders,
    PRODUCTION_RUNS.name: _upsert_runs,
    DEFECTS.name: _upsert_defects,
}

