"""Demo data, dated relative to the day it runs: python -m database.seed

Seeding resets the business tables to exactly this demo set, so running it twice
leaves the same rows. Point DATABASE_URL at a demo database only. The rows go through the
data API's validation and upserts (connectors/data), the way a business loads its own data;
each order's history is replayed one status change at a time, so its events are written as
the API writes them. ORD-10001's demo invoice and packing list are files in DOCUMENTS_DIR.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from database.clock import local_to_utc, local_today, utcnow
from database.demo_documents import demo_documents
from database.models import (
    Company,
    Customer,
    DefectReport,
    Order,
    OrderDocument,
    OrderEvent,
    ProductionRun,
    SupportTicket,
)
from database.session import lock_for_write, sessions

# Children first, so foreign keys never point at a deleted row.
TABLES = (OrderDocument, OrderEvent, DefectReport, ProductionRun, SupportTicket, Order, Customer, Company)

# (ref, wa_id, product, quantity, status, placed, promised, estimated, carrier, tracking, events)
# Day numbers are offsets from today; events are (day, hour, status, note).
ORDERS = (
    ("ORD-10001", "919800000001", "Cotton yarn 40s", 200, "shipped", -12, 2, 1,
     "BlueDart", "BD123456789IN",
     ((-12, 10, "received", "Order received"),
      (-10, 9, "in_production", "Spinning started on Line A"),
      (-4, 17, "ready", "Packed and passed quality check"),
      (-3, 11, "shipped", "Dispatched from Surat plant"))),
    ("ORD-10002", "919800000001", "Polyester fabric roll", 40, "in_production", -8, 7, 5,
     None, None,
     ((-8, 12, "received", "Order received"),
      (-1, 8, "in_production", "Weaving started on Line A"))),
    ("ORD-10003", "919800000002", "Denim fabric 12oz", 1500, "in_production", -5, 10, 9,
     None, None,
     ((-5, 15, "received", "Order received"),
      (-2, 7, "in_production", "Dyeing started on Line B"))),
    ("ORD-10004", "919800000001", "Cotton yarn 30s", 150, "delivered", -40, -25, -26,
     "Delhivery", "DL987654321IN",
     ((-40, 10, "received", "Order received"),
      (-36, 9, "in_production", "Spinning started on Line C"),
      (-30, 16, "ready", "Packed and passed quality check"),
      (-29, 11, "shipped", "Dispatched from Surat plant"),
      (-26, 14, "delivered", "Delivered to Asha Traders, Ahmedabad"))),
    ("ORD-10005", "919800000001", "Viscose blend yarn", 300, "in_production", -6, 12, 10,
     None, None,
     ((-6, 11, "received", "Order received"),
      (-3, 8, "in_production", "Blending started on Line C"))),
    ("ORD-10006", "919800000001", "Linen fabric roll", 25, "received", -1, 20, None,
     None, None,
     ((-1, 16, "received", "Order received"),)),
    ("ORD-10007", "919800000001", "Polyester yarn 150D", 500, "ready", -15, 1, 0,
     None, None,
     ((-15, 10, "received", "Order received"),
      (-11, 9, "in_production", "Texturising started on Line B"),
      (-1, 18, "ready", "Packed, awaiting pickup"))),
    ("ORD-10008", "919800000001", "Silk blend fabric roll", 10, "cancelled", -20, -5, None,
     None, None,
     ((-20, 13, "received", "Order received"),
      (-18, 10, "cancelled", "Cancelled at customer's request"))),
)

# (ref, order_ref, reporter wa_id, description, photo_ref, status, resolution, created, updated)
DEFECTS = (
    ("DEF-0001", "ORD-10001", "919800000001", "Yarn cones arrived with water damage",
     "demo-media-def-0001", "investigating", None, -2, -1),
    ("DEF-0002", "ORD-10004", "919800000001", "Six cones wound unevenly",
     None, "resolved", "Replacement cones sent free of charge with the next dispatch", -25, -22),
    ("DEF-0003", "ORD-10003", "919800000002", "Sample swatch shade differs from approved lab dip",
     None, "open", None, -1, -1),
)

# Runs on the lines now: (line, product, order_ref, planned, done, start, end, status) with
# start/end in hours from the current hour, so "running" stays true whenever the demo is seeded.
RUNS_NOW = (
    ("Line A", "Polyester fabric roll", "ORD-10002", 24, 16, -3, 5, "running"),
    ("Line B", "Denim fabric 12oz", "ORD-10003", 500, 120, -1, 7, "running"),
    ("Line C", "Cotton yarn 30s", None, 800, 210, -6, 2, "delayed"),
)

# (day, line, product, order_ref or None for stock, planned, done, start hour, end hour, status)
# Hours are local wall-clock time; 22-30 runs past midnight into the next day.
RUNS = (
    (1, "Line A", "Polyester fabric roll", "ORD-10002", 16, 0, 6, 14, "planned"),
    (1, "Line C", "Viscose blend yarn", "ORD-10005", 150, 0, 6, 14, "planned"),
    (2, "Line B", "Denim fabric 12oz", "ORD-10003", 500, 0, 6, 14, "planned"),
    (3, "Line A", "Cotton yarn 40s", None, 600, 0, 14, 22, "planned"),
    (3, "Line C", "Viscose blend yarn", "ORD-10005", 150, 0, 6, 14, "planned"),
    (4, "Line B", "Denim fabric 12oz", "ORD-10003", 500, 0, 6, 14, "planned"),
    (5, "Line A", "Polyester yarn 150D", None, 400, 0, 6, 14, "planned"),
    (6, "Line C", "Cotton yarn 30s", None, 800, 0, 22, 30, "planned"),
)

COMPANIES = (
    ("ASHA-TRADERS", "Asha Traders"),
    ("BHARAT-TEXTILES", "Bharat Textiles"),
    ("ACME", "ACME Manufacturing"),
)

# (wa_id, name, company ref, role, title)
CUSTOMERS = (
    ("919800000001", "Asha Mehta", "ASHA-TRADERS", "customer", "owner"),
    ("919800000002", "Ravi Kumar", "BHARAT-TEXTILES", "customer", "purchase manager"),
    ("919800000009", "Priya Shah", "ACME", "staff", "customer support"),
)


def seed(today: date | None = None) -> dict[str, int]:
    """Replace all business rows with the demo set and return row counts per table."""
    from connectors.data import load  # the data API's package; imported late, it imports this package

    today = today or local_today()

    def at(day: int, hour: int) -> str:
        wall = datetime.combine(today, time()) + timedelta(days=day, hours=hour)
        return _iso(local_to_utc(wall.date(), wall.time()))

    def on(day: int | None) -> str | None:
        return None if day is None else (today + timedelta(days=day)).isoformat()

    with sessions().begin() as session:
        lock_for_write(session)
        for table in TABLES:
            session.execute(delete(table))

        load.apply_rows(session, "companies", [{"ref": ref, "name": name} for ref, name in COMPANIES])
        load.apply_rows(session, "contacts", [
            {"wa_id": wa_id, "name": name, "company_ref": company, "role": role, "title": title}
            for wa_id, name, company, role, title in CUSTOMERS])
        owners = {wa_id: company for wa_id, _, company, _, _ in CUSTOMERS}
        # One upsert per step of history: step k moves every order that far.
        for step in range(max(len(order[-1]) for order in ORDERS)):
            rows: list[dict[str, Any]] = []
            for ref, wa_id, product, qty, _, placed, promised, est, carrier, tracking, events in ORDERS:
                if step < len(events):
                    day, hour, status, note = events[step]
                    rows.append({
                        "ref": ref, "company_ref": owners[wa_id], "contact_wa_id": wa_id, "product": product,
                        "quantity": qty, "status": status, "placed_on": on(placed), "promised_on": on(promised),
                        "estimated_on": on(est), "carrier": carrier, "tracking_no": tracking,
                        "status_note": note, "status_at": at(day, hour)})
            load.apply_rows(session, "orders", rows)

        load.apply_rows(session, "defects", [
            {"ref": ref, "order_ref": order_ref, "reporter_wa_id": wa_id, "description": text,
             "status": status, "resolution": resolution, "reported_at": at(created, 11)}
            for ref, order_ref, wa_id, text, _photo, status, resolution, created, _updated in DEFECTS])
        _attach_photos(session)

        hour = local_now_hour()
        runs = [(line, product, order_ref, planned, done, _iso(hour + timedelta(hours=start)),
                 _iso(hour + timedelta(hours=end)), status)
                for line, product, order_ref, planned, done, start, end, status in RUNS_NOW]
        runs += [(line, product, order_ref, planned, done, at(day, start), at(day, end), status)
                 for day, line, product, order_ref, planned, done, start, end, status in RUNS]
        load.apply_rows(session, "production-runs", [
            {"ref": f"RUN-{n:04d}", "line": line, "product": product, "order_ref": order_ref,
             "planned_qty": planned, "done_qty": done, "starts_at": starts, "ends_at": ends, "status": status}
            for n, (line, product, order_ref, planned, done, starts, ends, status) in enumerate(runs, start=1)])

        session.add_all(demo_documents(session))
        session.flush()
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table))
            for table in reversed(TABLES)
        }


def _attach_photos(session: Session) -> None:
    """Give the demo reports their photo references (photos arrive over WhatsApp, not the data API)."""
    for ref, _order, _reporter, _text, photo, *_ in DEFECTS:
        if photo is not None:
            session.execute(update(DefectReport).where(DefectReport.ref == ref)  # no "now" in the demo set
                            .values(photo_ref=photo, updated_at=DefectReport.created_at))


def _iso(moment: datetime) -> str:
    """Return naive UTC as the data API's date-time text."""
    return moment.isoformat() + "Z"


def local_now_hour() -> datetime:
    """Return the start of the current hour as naive UTC (the seed's 'now')."""
    return utcnow().replace(minute=0, second=0, microsecond=0)


def is_empty() -> bool:
    """Return True when no customer exists yet (a new database)."""
    with sessions()() as session:
        return session.scalar(select(func.count()).select_from(Customer)) == 0


if __name__ == "__main__":
    import sys

    # --if-empty: seed a new database, keep the data of one already in use.
    if "--if-empty" in sys.argv and not is_empty():
        print("database already has data; not seeding (run without --if-empty to reset)")
    else:
        for table, count in seed().items():
            print(f"{table}: {count}")
