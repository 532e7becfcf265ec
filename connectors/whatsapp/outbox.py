"""Durable outbound side: every reply is a row before it is sent, keyed (inbound wamid, seq).

Sync functions for asyncio.to_thread. A row moves queued -> sending -> sent | failed (or back to
queued with a later next_attempt_at). Only the oldest open row of a recipient is ever sendable, so
replies reach each user in order, and a row is claimed with a lease so no two senders send it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional, Sequence

from sqlalchemy import and_, func, or_, select, update

from actions.db.clock import utcnow
from actions.db.session import lock_for_write, sessions
from connectors.whatsapp.store import insert_ignore
from connectors.whatsapp.tables import contacts, outbox

OPEN_STATES = ("queued", "sending")
# A row left "sending" by a dead instance may have reached Meta. Its status webhook (which echoes
# outbox:<id>) marks it sent; only if none comes within this grace after the lease is it sent again.
UNCERTAIN_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class OutboxItem:
    """One Graph /messages body to enqueue, answering inbound_wamid at position seq."""

    wa_id: str
    inbound_wamid: str
    seq: int
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class OutboxView:
    """One claimed outbox row, with what the sender must know about its recipient."""

    id: int
    wa_id: str
    inbound_wamid: str
    seq: int
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one
    opted_out: bool
    last_inbound_at: Optional[datetime]


def enqueue(items: Sequence[OutboxItem], now: Optional[datetime] = None) -> int:
    """Insert the rows that are not there yet (a re-run turn is a no-op); return how many were new."""
    now = now or utcnow()
    if not items:
        return 0
    added = 0
    with sessions().begin() as session:
        lock_for_write(session)
        for item in items:
            row = {"wa_id": item.wa_id, "inbound_wamid": item.inbound_wamid, "seq": item.seq,
                   "kind": item.kind, "payload": item.payload, "state": "queued", "attempts": 0,
                   "next_attempt_at": now, "status_rank": 0, "created_at": now}
            added += insert_ignore(session, outbox, row, ["inbound_wamid", "seq"])
    return added


def recipients_with_work(now: Optional[datetime] = None, limit: int = 200) -> list[str]:
    """Return recipients whose oldest open row is due now (queued and due, or its lease lapsed)."""
    now = now or utcnow()
    o, earlier = outbox.c, outbox.alias("earlier").c
    head = (select(func.min(earlier.id)).where(earlier.wa_id == o.wa_id, earlier.state.in_(OPEN_STATES))
            .scalar_subquery())
    stmt = (select(o.wa_id).where(o.state.in_(OPEN_STATES), o.id == head, _due(now))
            .order_by(o.id).limit(limit))
    with sessions()() as session:
        return list(session.scalars(stmt))


def claim_next_outbox(wa_id: str, owner: str, ttl: timedelta,
                      now: Optional[datetime] = None) -> Optional[OutboxView]:
    """Claim the recipient's oldest open row if it is due; None if nothing is sendable now."""
    now = now or utcnow()
    o, c = outbox.c, contacts.c
    stmt = (select(outbox, c.opted_out, c.last_inbound_at)
            .join(contacts, c.wa_id == o.wa_id, isouter=True)
            .where(o.wa_id == wa_id, o.state.in_(OPEN_STATES)).order_by(o.id).limit(1))
    with sessions().begin() as session:
        lock_for_write(session)
        row = session.execute(stmt).first()
        if row is None:
            return None
        claimed = session.execute(
            update(outbox).where(o.id == row.id, o.state.in_(OPEN_STATES), _due(now))
            .values(state="sending", lease_owner=owner, lease_until=now + ttl, attempts=o.attempts + 1))
        if claimed.rowcount != 1:
            return None
        return OutboxView(row.id, row.wa_id, row.inbound_wamid, row.seq, row.kind, dict(row.payload),
                          row.attempts + 1, bool(row.opted_out), row.last_inbound_at)


def mark_sent(row_id: int, owner: str, graph_wamid: str, now: Optional[datetime] = None) -> None:
    """Record Meta's wamid for a row we sent (a status webhook may have done it already)."""
    o = outbox.c
    with sessions().begin() as session:
        session.execute(update(outbox).where(o.id == row_id, o.lease_owner == owner).values(
            state="sent", graph_wamid=graph_wamid, sent_at=now or utcnow(), lease_owner=None,
            lease_until=None, last_error_code=None, last_error=None))


def retry_later(row_id: int, owner: str, at: datetime, code: Optional[int], reason: str) -> None:
    """Put a row back in the queue until `at`, keeping the error that delayed it."""
    o = outbox.c
    with sessions().begin() as session:
        session.execute(update(outbox).where(o.id == row_id, o.lease_owner == owner).values(
            state="queued", next_attempt_at=at, lease_owner=None, lease_until=None,
            last_error_code=code, last_error=reason[:120]))


def mark_failed(row_id: int, owner: str, code: Optional[int], reason: str) -> None:
    """Give up on a row for good and record why."""
    o = outbox.c
    with sessions().begin() as session:
        session.execute(update(outbox).where(o.id == row_id, o.lease_owner == owner).values(
            state="failed", lease_owner=None, lease_until=None, last_error_code=code,
            last_error=reason[:120]))


def _due(now: datetime) -> Any:
    """Return the condition for an open row that may be claimed now."""
    o = outbox.c
    return or_(and_(o.state == "queued", o.next_attempt_at <= now),
               and_(o.state == "sending", o.lease_until < now - UNCERTAIN_GRACE))
