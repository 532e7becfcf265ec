"""Durable outbound side: every reply is a row before it is sent, keyed (inbound wamid, seq).

Sync functions for asyncio.to_thread. A row moves queued -> sending -> sent | failed (or back to
queued with a later next_attempt_at). Only the oldest open row of a recipient is ever sendable, so
replies reach each user in order, and a row is claimed with a lease so no two senders send it.

Other code of the same process (the management API) may queue messages with `enqueue` or
`enqueue_text`; the sender is woken at once (`subscribe`), and checks opt-out and the 24-hour
window again at send time.
"""
from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Optional, Sequence

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from database.clock import utcnow
from connectors.whatsapp.db import channel_sessions, insert_ignore, writing
from connectors.whatsapp.render import render_response
from connectors.whatsapp.tables import contacts, outbox

logger = logging.getLogger(__name__)

OPEN_STATES = ("queued", "sending")
# A row left "sending" by a dead instance may have reached Meta. Its status webhook (which echoes
# outbox:<id>) marks it sent; only if none comes within this grace after the lease is it sent again.
UNCERTAIN_GRACE = timedelta(seconds=30)
TEMPLATE_SEQ = -1  # one re-engagement template per inbound message, whatever fails after it
TEMPLATE_KIND = "template"  # the only kind sent when the 24-hour window is closed

_listeners: list[Callable[[], None]] = []
_listeners_lock = threading.Lock()


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
    if not items:
        return 0
    with writing() as session:
        added = queue_rows(session, items, now or utcnow())
    if added:
        _notify()
    return added


def enqueue_text(wa_id: str, text: str, key: Optional[str] = None, kind: str = "staff") -> str:
    """Queue a free-form text to wa_id (split under 4096 characters) and return its key.

    For a person or a system writing to a customer outside a Rasa turn. The key (default
    `staff:<uuid>`) makes a repeat a no-op. Nothing goes out to a contact who sent STOP, and
    outside the 24-hour window the configured re-engagement template goes instead (or the row is
    recorded as failed): the sender checks both when it sends.
    """
    key = key or f"staff:{uuid.uuid4().hex}"
    payloads = render_response(wa_id, {"text": text}).payloads
    enqueue([OutboxItem(wa_id, key, seq, kind, payload) for seq, payload in enumerate(payloads)])
    return key


def queue_rows(session: Session, items: Sequence[OutboxItem], now: datetime) -> int:
    """Insert outbox rows inside the caller's transaction; return how many were new."""
    added = 0
    for item in items:
        row = {"wa_id": item.wa_id, "inbound_wamid": item.inbound_wamid, "seq": item.seq,
               "kind": item.kind, "payload": item.payload, "state": "queued", "attempts": 0,
               "next_attempt_at": now, "status_rank": 0, "created_at": now}
        added += insert_ignore(session, outbox, row, ["inbound_wamid", "seq"])
    return added


def subscribe(listener: Callable[[], None]) -> Callable[[], None]:
    """Call listener (from any thread) after rows are queued; return a function that unsubscribes."""
    with _listeners_lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def recipients_with_work(now: Optional[datetime] = None, limit: int = 200) -> list[str]:
    """Return recipients whose oldest open row is due now (queued and due, or its lease lapsed)."""
    now = now or utcnow()
    o, earlier = outbox.c, outbox.alias("earlier").c
    head = (select(func.min(earlier.id)).where(earlier.wa_id == o.wa_id, earlier.state.in_(OPEN_STATES))
            .scalar_subquery())
    stmt = (select(o.wa_id).where(o.state.in_(OPEN_STATES), o.id == head, _due(now))
            .order_by(o.id).limit(limit))
    with channel_sessions()() as session:
        return list(session.scalars(stmt))


def claim_next_outbox(wa_id: str, owner: str, ttl: timedelta,
                      now: Optional[datetime] = None) -> Optional[OutboxView]:
    """Claim the recipient's oldest open row if it is due; None if nothing is sendable now."""
    now = now or utcnow()
    o, c = outbox.c, contacts.c
    stmt = (select(outbox, c.opted_out, c.last_inbound_at)
            .join(contacts, c.wa_id == o.wa_id, isouter=True)
            .where(o.wa_id == wa_id, o.state.in_(OPEN_STATES)).order_by(o.id).limit(1))
    with writing(key=f"out:{wa_id}") as session:
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
    with writing() as session:
        session.execute(update(outbox).where(o.id == row_id, o.lease_owner == owner).values(
            state="sent", graph_wamid=graph_wamid, sent_at=now or utcnow(), lease_owner=None,
            lease_until=None, last_error_code=None, last_error=None))


def set_payload(row_id: int, owner: str, payload: dict[str, Any]) -> None:
    """Replace a claimed row's body (a document's upload mark by its media id), so a retry reuses it."""
    o = outbox.c
    with writing() as session:
        session.execute(update(outbox).where(o.id == row_id, o.lease_owner == owner).values(payload=payload))


def retry_later(row_id: int, owner: str, at: datetime, code: Optional[int], reason: str,
                count_attempt: bool = True) -> None:
    """Put a row back in the queue until `at`, keeping the error that delayed it.

    count_attempt=False gives the attempt back: the row waited for something that is not its
    own fault (an expired access token), so it must not run out of attempts meanwhile.
    """
    o = outbox.c
    values: dict[str, Any] = {"state": "queued", "next_attempt_at": at, "lease_owner": None,
                              "lease_until": None, "last_error_code": code, "last_error": reason[:120]}
    if not count_attempt:
        values["attempts"] = o.attempts - 1
    with writing() as session:
        session.execute(update(outbox).where(o.id == row_id, o.lease_owner == owner).values(**values))


def mark_failed(row_id: int, owner: str, code: Optional[int], reason: str) -> None:
    """Give up on a row for good and record why."""
    o = outbox.c
    with writing() as session:
        session.execute(update(outbox).where(o.id == row_id, o.lease_owner == owner).values(
            state="failed", lease_owner=None, lease_until=None, last_error_code=code,
            last_error=reason[:120]))


def _due(now: datetime) -> Any:
    """Return the condition for an open row that may be claimed now."""
    o = outbox.c
    return or_(and_(o.state == "queued", o.next_attempt_at <= now),
               and_(o.state == "sending", o.lease_until < now - UNCERTAIN_GRACE))


def _notify() -> None:
    """Tell the subscribed senders that rows were queued; a failing listener only costs a poll."""
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener()
        except Exception:  # noqa: BLE001 - e.g. the sender's loop already closed
            logger.debug("whatsapp.outbox.notify_failed", exc_info=True)
