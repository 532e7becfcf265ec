"""Read models for the inbox: the conversation list and one conversation's history.

Sync functions for asyncio.to_thread. The list puts conversations waiting for a person first (the
longest wait first), then those a person has, then the rest by the customer's latest message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import func, or_, select

from database.clock import utcnow
from database.models import Customer
from database.session import sessions
from connectors.management.handoff import handoffs
from connectors.management.outbound import contact_state, origin_of
from connectors.staff import display
from connectors.staff.tables import accounts, audit, messages as staff_messages
from connectors.whatsapp.tables import contacts, inbound, media, outbox

HANDLING = ("take_over", "reply", "template")  # actions that mean a person has the conversation
SEARCH_MAX = 100


@dataclass(frozen=True)
class Query:
    """What the list is filtered by: digits of a number, or words of a name or company."""

    digits: str
    words: str


def query_of(raw: str) -> Optional[Query]:
    """Return the search for raw text (None for a blank one); digits match numbers, the rest names."""
    raw = raw.strip()[:SEARCH_MAX]
    if not raw:
        return None
    digits = re.sub(r"[\s+()-]", "", raw)
    return Query(digits if digits.isdigit() else "", raw)


def conversations(q: Optional[Query], limit: int = 100, now: Optional[datetime] = None) -> list[dict[str, Any]]:
    """Return the conversations list: open handoffs first, then by the latest customer message."""
    now = now or utcnow()
    c, h, i = contacts.c, handoffs.c, inbound.c
    latest = select(i.id).where(i.wa_id == c.wa_id).order_by(i.id.desc()).limit(1).scalar_subquery()
    last = inbound.alias("last")
    stmt = (select(c.wa_id, c.profile_name, c.last_seen, Customer.name, Customer.company,
                   h.requested_at, h.staff_replies, last.c.text, last.c.kind, last.c.meta)
            .join(Customer, Customer.wa_id == c.wa_id, isouter=True)
            .join(handoffs, h.open_key == c.wa_id, isouter=True)
            .join(last, last.c.id == latest, isouter=True))
    if q is not None:
        like = f"%{_escape(q.words.lower())}%"
        found = [func.lower(c.profile_name).like(like, escape="\\"), func.lower(Customer.name).like(like, escape="\\"),
                 func.lower(Customer.company).like(like, escape="\\")]
        if q.digits:
            found.append(c.wa_id.like(f"%{q.digits}%"))
        stmt = stmt.where(or_(*found))
    stmt = stmt.order_by(h.requested_at.is_(None), h.requested_at, c.last_seen.desc(), c.wa_id).limit(limit)
    with sessions()() as session:
        rows = session.execute(stmt).all()
        handlers = _handlers(session, {r.wa_id: r.requested_at for r in rows if r.requested_at is not None})
    items = []
    for r in rows:
        handled_by = handlers.get(r.wa_id)
        state = display.conversation_state(r.requested_at is not None, handled_by)
        preview = display.inbound_item(0, r.kind, r.text, r.meta, r.last_seen, False) if r.kind else None
        items.append({"wa_id": r.wa_id, "profile_name": r.profile_name, "name": r.name, "company": r.company,
                      "state": state, "handled_by": handled_by,
                      "waiting_since": display.iso(r.requested_at),
                      "waited_seconds": display.waited_seconds(r.requested_at, now) if state == "waiting" else None,
                      "last_message_at": display.iso(r.last_seen),
                      "last_message": None if preview is None else (preview["text"] or f"[{preview['kind']}]")})
    rank = {"waiting": 0, "with_staff": 1, "bot": 2}
    return sorted(items, key=lambda item: rank[item["state"]])  # stable: keeps the SQL order within a state


def conversation(wa_id: str, limit: int = 1000, now: Optional[datetime] = None) -> Optional[dict[str, Any]]:
    """Return one conversation: who, its state, and its latest `limit` messages oldest first."""
    now = now or utcnow()
    c, h, i, o = contacts.c, handoffs.c, inbound.c, outbox.c
    with sessions()() as session:
        who = session.execute(select(c.wa_id, c.profile_name, Customer.name, Customer.company, Customer.role)
                              .join(Customer, Customer.wa_id == c.wa_id, isouter=True)
                              .where(c.wa_id == wa_id)).first()
        if who is None:
            return None
        requested_at = session.scalar(select(h.requested_at).where(h.open_key == wa_id))
        handled_by = _handlers(session, {wa_id: requested_at}).get(wa_id) if requested_at else None
        ins = session.execute(select(i.id, i.kind, i.text, i.meta, i.received_at, media.c.id.label("media_id"))
                              .join(media, media.c.wamid == i.wamid, isouter=True)
                              .where(i.wa_id == wa_id).order_by(i.id.desc()).limit(limit + 1)).all()
        outs = session.execute(select(o.id, o.inbound_wamid, o.payload, o.created_at, o.state, o.delivery_status,
                                      o.last_error, accounts.c.name.label("author"))
                               .join(staff_messages, staff_messages.c.outbox_key == o.inbound_wamid, isouter=True)
                               .join(accounts, accounts.c.id == staff_messages.c.account_id, isouter=True)
                               .where(o.wa_id == wa_id).order_by(o.id.desc()).limit(limit + 1)).all()
    items = [(r.received_at, 0, r.id, display.inbound_item(r.id, r.kind, r.text, r.meta, r.received_at,
                                                          r.media_id is not None)) for r in ins]
    items += [(r.created_at, 1, r.id, display.outbound_item(r.id, r.payload, r.created_at, origin_of(r.inbound_wamid),
                                                           r.state, r.delivery_status, r.last_error, r.author))
              for r in outs]
    items.sort(key=lambda item: item[:3])
    truncated = len(items) > limit
    state = contact_state(wa_id)
    status = display.conversation_state(requested_at is not None, handled_by)
    return {"wa_id": who.wa_id, "profile_name": who.profile_name, "name": who.name, "company": who.company,
            "role": who.role, "state": status, "handled_by": handled_by,
            "waiting_since": display.iso(requested_at),
            "waited_seconds": display.waited_seconds(requested_at, now) if status == "waiting" else None,
            "window_open": state.window_open(now), "opted_out": state.opted_out,
            "messages": [item[3] for item in items[-limit:]], "truncated": truncated}


def media_file(inbound_id: int) -> Optional[tuple[str, str, Optional[str]]]:
    """Return (path, mime type, filename) of a downloaded customer file, or None."""
    i, m = inbound.c, media.c
    with sessions()() as session:
        row = session.execute(select(m.path, i.meta).join(inbound, i.wamid == m.wamid)
                              .where(i.id == inbound_id)).first()
    if row is None:
        return None
    ref = (row.meta or {}).get("media") or {}
    return row.path, str(ref.get("mime_type") or ""), ref.get("filename")


def holder_of(session: Any, wa_id: str, open_since: datetime) -> Optional[tuple[int, str]]:
    """Return (account id, name) of the person who last took over or answered this open conversation."""
    a = audit.c
    row = session.execute(select(a.account_id, accounts.c.name).join(accounts, accounts.c.id == a.account_id)
                          .where(a.wa_id == wa_id, a.action.in_(HANDLING), a.at >= open_since)
                          .order_by(a.at.desc(), a.id.desc()).limit(1)).first()
    return None if row is None else (int(row.account_id), row.name)


def _handlers(session: Any, open_since: dict[str, datetime]) -> dict[str, str]:
    """Return the name of the person who last took over or answered each open conversation."""
    if not open_since:
        return {}
    a = audit.c
    stmt = (select(a.wa_id, a.at, accounts.c.name).join(accounts, accounts.c.id == a.account_id)
            .where(a.wa_id.in_(list(open_since)), a.action.in_(HANDLING)).order_by(a.at, a.id))
    found: dict[str, str] = {}
    for row in session.execute(stmt):
        if row.at >= open_since[row.wa_id]:
            found[row.wa_id] = row.name
    return found


def _escape(text: str) -> str:
    """Escape LIKE's wildcards so a search for "50%" means those characters."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
