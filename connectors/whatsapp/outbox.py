"""Durable outbound side: every reply is a row before it is sent, keyed (inbound wamid, seq).

Sync functions for asyncio.to_thread. A row moves queued -> sending -> sent | failed (or back to
queued with a later next_attempt_at). Only the oldest open row of a recipient is ever sendable, so
replies reach each user in order, and a row is claimed with a lease so no two senders send it.

Whoever queues rows (a turn's outcome, the management API, staff replies, `enqueue_text`) does so
with `queue_rows` inside its own transaction; once that commits, the subscribed sender of this
process is told which recipients have new rows (`subscribe`), so nothing polls for them. A turn's
outcome is the exception: `finish_turn` claims its rows in the same transaction and the worker
hands them to the sender itself. The sender
checks opt-out and the 24-hour window again at send time.
"""
from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Collection, Optional, Sequence

from sqlalchemy import and_, bindparam, event, func, or_, select, update
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

CLAIM_BATCH = 10  # rows of one recipient claimed (and later marked sent) in one transaction
Listener = Callable[[Collection[str]], None]  # called with the recipients that have new rows
_listeners: list[Listener] = []
_QUEUED = "whatsapp_outbox_queued"  # Session.info key: recipients to announce after the commit
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
        return queue_rows(session, items, now or utcnow())


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
    """Insert outbox rows inside the caller's transaction; return how many were new.

    The subscribed senders hear of the new rows' recipients when that transaction commits.
    """
    added = 0
    recipients: set[str] = session.info.setdefault(_QUEUED, set())
    for item in items:
        row = {"wa_id": item.wa_id, "inbound_wamid": item.inbound_wamid, "seq": item.seq,
               "kind": item.kind, "payload": item.payload, "state": "queued", "attempts": 0,
               "next_attempt_at": now, "status_rank": 0, "created_at": now}
        if insert_ignore(session, outbox, row, ["inbound_wamid", "seq"]):
            added += 1
            recipients.add(item.wa_id)
    return added


@event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    """Tell the senders which recipients got rows in the transaction that just committed."""
    recipients = session.info.pop(_QUEUED, None)
    if recipients:
        _notify(recipients)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    """Rows of a rolled-back transaction were never queued."""
    session.info.pop(_QUEUED, None)


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call listener (from any thread) with the recipients of newly queued rows once they are
    committed; return a function that unsubscribes."""
    with _listeners_lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def recipients_with_work(now: Optional[datetime] = None, limit: int = 200) -> list[str]:
    """Return recipients whose oldest open row is due now (queued and due, or its lease lapsed)."""
    o, earlier = outbox.c, outbox.alias("earlier").c
    head = (select(func.min(earlier.id)).where(earlier.wa_id == o.wa_id, earlier.state.in_(OPEN_STATES))
            .scalar_subquery())
    stmt = (select(o.wa_id).where(o.state.in_(OPEN_STATES), o.id == head, _DUE)
            .order_by(o.id).limit(limit))
    with channel_sessions()() as session:
        return list(session.scalars(stmt, due_params(now or utcnow())))


# An open row that may be claimed now: queued and due, or its send's lease and grace are over.
# Statements are built once with bound parameters (due_params): building them per call cost
# SQLAlchemy several times the query itself.
_DUE = or_(and_(outbox.c.state == "queued", outbox.c.next_attempt_at <= bindparam("now")),
           and_(outbox.c.state == "sending", outbox.c.lease_until < bindparam("uncertain_before")))
_OPEN_ROWS = (select(outbox, contacts.c.opted_out, contacts.c.last_inbound_at, _DUE.label("due"))
              .join(contacts, contacts.c.wa_id == outbox.c.wa_id, isouter=True)
              .where(outbox.c.wa_id == bindparam("who"), outbox.c.state.in_(OPEN_STATES))
              .order_by(outbox.c.id).limit(bindparam("limit")))
_CLAIM_ROW = (update(outbox).where(outbox.c.id == bindparam("row"), outbox.c.state.in_(OPEN_STATES), _DUE)
              .values(state="sending", lease_owner=bindparam("owner"), lease_until=bindparam("until"),
                      attempts=outbox.c.attempts + 1))


def due_params(now: datetime) -> dict[str, datetime]:
    """Return the bound values of _DUE at now."""
    return {"now": now, "uncertain_before": now - UNCERTAIN_GRACE}


def claim_due_outbox(wa_id: str, owner: str, ttl: timedelta, limit: int = CLAIM_BATCH,
                     now: Optional[datetime] = None) -> list[OutboxView]:
    """Claim, in one transaction, the recipient's oldest open rows that are due, in order.

    Only a due head row starts a batch, and the batch ends before the first row that is not due, so
    rows still go out one after another in id order.
    """
    with writing(key=f"out:{wa_id}") as session:
        return claim_due_rows(session, wa_id, owner, ttl, limit, now or utcnow())


def claim_due_rows(session: Session, wa_id: str, owner: str, ttl: timedelta, limit: int,
                   now: datetime) -> list[OutboxView]:
    """Claim as claim_due_outbox does, inside the caller's transaction (which holds the out: lock).

    The claimed rows are not announced when the transaction commits: the caller hands them over.
    """
    due = due_params(now)
    views: list[OutboxView] = []
    rows = session.execute(_OPEN_ROWS, {"who": wa_id, "limit": limit, **due}).all()
    for row in rows:
        if not row.due or session.execute(
                _CLAIM_ROW, {"row": row.id, "owner": owner, "until": now + ttl, **due}).rowcount != 1:
            break
        views.append(OutboxView(row.id, row.wa_id, row.inbound_wamid, row.seq, row.kind, dict(row.payload),
                                row.attempts + 1, bool(row.opted_out), row.last_inbound_at))
    if views and len(views) == len(rows) and len(rows) < limit:
        session.info.get(_QUEUED, set()).discard(wa_id)  # every open row is claimed: nothing to announce
    return views


_MARK_SENT = update(outbox).where(outbox.c.id == bindparam("row"), outbox.c.lease_owner == bindparam("owner")).values(
    state="sent", graph_wamid=bindparam("wamid"), sent_at=bindparam("now"), lease_owner=None, lease_until=None,
    last_error_code=None, last_error=None)


def mark_sent_many(sent: Sequence[tuple[int, str]], owner: str, now: Optional[datetime] = None) -> None:
    """Record Meta's wamid for each (row id, wamid) we sent, in one transaction."""
    if not sent:
        return
    now = now or utcnow()
    with writing() as session:
        session.execute(_MARK_SENT, [{"row": row_id, "owner": owner, "wamid": wamid, "now": now}
                                     for row_id, wamid in sent])


def release_claims(row_ids: Collection[int], owner: str) -> None:
    """Put claimed rows that were never tried back in the queue, giving their attempt back."""
    if not row_ids:
        return
    o = outbox.c
    with writing() as session:
        session.execute(update(outbox).where(o.id.in_(list(row_ids)), o.lease_owner == owner, o.state == "sending")
                        .values(state="queued", lease_owner=None, lease_until=None, attempts=o.attempts - 1))


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


def _notify(recipients: Collection[str]) -> None:
    """Tell the subscribed senders which recipients have new rows; a failing listener only costs
    waiting for the recovery scan."""
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(recipients)
        except Exception:  # noqa: BLE001 - e.g. the sender's loop already closed
            logger.debug("whatsapp.outbox.notify_failed", exc_info=True)
