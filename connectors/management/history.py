"""Read models for the API: a number's messages (both directions) and contacts, a page at a time.

Sync functions for asyncio.to_thread. Pages are keyset pages, newest first, with an opaque cursor
that names the last item shown, so new messages never shift a page the caller is reading.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import and_, false, func, or_, select, true

from database.models import Customer
from database.session import sessions
from connectors.management.handoff import handoffs
from connectors.management.inputs import encode_cursor
from connectors.management.outbound import origin_of
from connectors.whatsapp.tables import contacts, inbound, outbox

IN, OUT = 0, 1  # at equal times an outbound message counts as newer than an inbound one


@dataclass(frozen=True)
class Page:
    """Items of one page and the cursor of the next (None on the last page)."""

    items: list[dict[str, Any]]
    next_cursor: Optional[str]


def messages(wa_id: str, limit: int, before: Optional[tuple[datetime, int, int]] = None) -> Page:
    """Return up to limit of the number's messages, inbound and outbound merged, newest first."""
    i, o = inbound.c, outbox.c
    in_stmt = select(inbound).where(i.wa_id == wa_id)
    out_stmt = select(outbox).where(o.wa_id == wa_id)
    if before is not None:
        at, direction, row_id = before
        in_stmt = in_stmt.where(or_(i.received_at < at, and_(i.received_at == at, or_(
            true() if direction == OUT else false(), i.id < row_id))))
        out_stmt = out_stmt.where(or_(o.created_at < at, and_(
            o.created_at == at, true() if direction == OUT else false(), o.id < row_id)))
    in_stmt = in_stmt.order_by(i.received_at.desc(), i.id.desc()).limit(limit + 1)
    out_stmt = out_stmt.order_by(o.created_at.desc(), o.id.desc()).limit(limit + 1)
    with sessions()() as session:
        rows = [(r.received_at, IN, r.id, _inbound_item(r)) for r in session.execute(in_stmt)]
        rows += [(r.created_at, OUT, r.id, _outbound_item(r)) for r in session.execute(out_stmt)]
    rows.sort(key=lambda row: row[:3], reverse=True)
    page = rows[:limit]
    more = len(rows) > limit
    return Page([row[3] for row in page], encode_cursor(*page[-1][:3]) if more and page else None)


def contacts_page(limit: int, after: Optional[tuple[datetime, str]] = None) -> Page:
    """Return up to limit contacts, most recently active first (by their last message to us)."""
    c, o = contacts.c, outbox.c
    last_out = select(func.max(o.created_at)).where(o.wa_id == c.wa_id).scalar_subquery()
    waiting = select(handoffs.c.id).where(handoffs.c.open_key == c.wa_id).exists()
    stmt = (select(contacts, last_out.label("last_outbound_at"), waiting.label("handoff_waiting"),
                   Customer.name.label("customer_name"), Customer.company, Customer.role)
            .join(Customer, Customer.wa_id == c.wa_id, isouter=True))
    if after is not None:
        seen, wa_id = after
        stmt = stmt.where(or_(c.last_seen < seen, and_(c.last_seen == seen, c.wa_id < wa_id)))
    stmt = stmt.order_by(c.last_seen.desc(), c.wa_id.desc()).limit(limit + 1)
    with sessions()() as session:
        rows = session.execute(stmt).all()
    page = rows[:limit]
    cursor = encode_cursor(page[-1].last_seen, page[-1].wa_id) if len(rows) > limit else None
    return Page([_contact_item(r) for r in page], cursor)


def queue_depth() -> int:
    """Return how many outbox rows wait to be sent (queued or being sent)."""
    with sessions()() as session:
        return int(session.scalar(select(func.count()).select_from(outbox)
                                  .where(outbox.c.state.in_(("queued", "sending")))))


def iso(moment: Optional[datetime]) -> Optional[str]:
    """Return a naive UTC datetime as RFC 3339 with Z, or None."""
    return None if moment is None else moment.isoformat(timespec="microseconds") + "Z"


def _inbound_item(row: Any) -> dict[str, Any]:
    """Return one inbound message as the API shows it."""
    return {"id": f"in:{row.id}", "direction": "inbound", "from": "customer", "wa_id": row.wa_id,
            "at": iso(row.received_at), "kind": row.kind, "text": row.text, "wamid": row.wamid,
            "state": row.state, "delivery_status": None, "error_code": None, "error": None}


def _outbound_item(row: Any) -> dict[str, Any]:
    """Return one outbox row as the API shows it, with Meta's delivery status."""
    payload = row.payload if isinstance(row.payload, dict) else {}
    kind = str(payload.get("type") or "text")
    return {"id": f"out:{row.id}", "direction": "outbound", "from": origin_of(row.inbound_wamid),
            "wa_id": row.wa_id, "at": iso(row.created_at), "kind": kind, "text": _payload_text(payload, kind),
            "wamid": row.graph_wamid, "state": row.state, "delivery_status": row.delivery_status,
            "error_code": row.last_error_code, "error": row.last_error}


def _payload_text(payload: dict[str, Any], kind: str) -> str:
    """Return what the customer reads in a Graph message body (a template by its name)."""
    body = payload.get(kind) if isinstance(payload.get(kind), dict) else {}
    if kind == "text":
        return str(body.get("body") or "")
    if kind == "interactive":
        return str((body.get("body") or {}).get("text") or "")
    if kind == "template":
        return f"[template {body.get('name', '')}]"
    return str(body.get("caption") or f"[{kind}]")


def _contact_item(row: Any) -> dict[str, Any]:
    """Return one contact as the API shows it."""
    moments = [m for m in (row.last_seen, row.last_outbound_at) if m is not None]
    customer = None if row.customer_name is None else {
        "name": row.customer_name, "company": row.company, "role": row.role}
    return {"wa_id": row.wa_id, "profile_name": row.profile_name, "first_seen": iso(row.first_seen),
            "last_inbound_at": iso(row.last_inbound_at), "last_outbound_at": iso(row.last_outbound_at),
            "last_interaction_at": iso(max(moments)) if moments else None, "opted_out": bool(row.opted_out),
            "opted_out_at": iso(row.opted_out_at), "handoff_waiting": bool(row.handoff_waiting),
            "customer": customer}

