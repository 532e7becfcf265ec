"""Durable inbound side: the raw webhook log, inbound messages, contacts and statuses.

Sync functions, each opening and closing its own transaction; call them through asyncio.to_thread.
A repeat is detected by a unique constraint (insert-or-ignore; a batch of deliveries: db.insert_new).
Work is claimed with `UPDATE ... WHERE <state and lease condition>` and a rowcount check, so several
processes can share the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from itertools import chain
from typing import Any, Callable, Iterable, Optional, Sequence

from sqlalchemy import Integer, String, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from database.clock import utcnow
from database.models import Handoff
from connectors.whatsapp.db import (channel_sessions, insert_ignore, insert_ignore_many, insert_new, lock_also,
                                   params_of, values_of, writing)
from connectors.whatsapp.outbox import (CLAIM_BATCH, TEMPLATE_KIND, TEMPLATE_SEQ, OutboxItem, OutboxView,
                                        claim_due_rows, queue_rows)
from connectors.whatsapp.tables import contacts, inbound, outbox, statuses, webhooks
from connectors.whatsapp.updates import Delivery, InboundMessage, PreferenceUpdate, StatusUpdate, status_rank

__all__ = ["CALLBACK_PREFIX", "SERVICE_WINDOW", "InboundView", "SavedDelivery", "apply_statuses",
           "claim_next_inbound", "extend_leases", "finish_turn", "insert_ignore", "TurnRecorded", "is_opted_out",
           "save_deliveries", "save_delivery", "senders_with_work"]

SERVICE_WINDOW = timedelta(hours=24)
CALLBACK_PREFIX = "outbox:"  # biz_opaque_callback_data on every send names its outbox row
WINDOW_CLOSED = 131047  # Meta: the 24-hour customer service window is closed
# wa_id -> the re-engagement template's /messages body for that user (None: none configured)
Reengage = Callable[[str], Optional[dict[str, Any]]]


@dataclass(frozen=True)
class SavedDelivery:
    """What one webhook added: new messages, repeats, statuses and items for other numbers."""

    new_messages: int = 0
    duplicates: int = 0
    statuses: int = 0
    other_numbers: int = 0
    fresh: tuple[str, ...] = ()  # wamids of the new messages that will be answered (not stale)
    opted_out: frozenset[str] = frozenset()  # their senders who sent STOP and not START since
    templates: int = 0  # re-engagement templates queued for sends Meta failed with 131047
    senders: tuple[str, ...] = ()  # wa_ids with a new message to run (handed to the worker in memory)


@dataclass(frozen=True)
class InboundView:
    """One claimed inbound message, detached from the session."""

    id: int
    wamid: str
    wa_id: str
    kind: str
    text: str
    meta: dict[str, Any]
    timestamp: int
    attempts: int  # 1 on the first claim; more means a crash or failure interrupted a turn
    opted_out: bool = False  # the sender said STOP and not START since
    # Set when an earlier try ended in an error, also one whose try was given back (an outage): the
    # turn may have run before, so the worker checks the tracker before running it again.
    last_error: Optional[str] = None
    paused: bool = False  # a person had the conversation when it was claimed (an open handoff)


def save_delivery(body: bytes, delivery: Delivery, phone_number_id: str,
                  now: Optional[datetime] = None, reengage: Optional[Reengage] = None) -> SavedDelivery:
    """Store the raw body, every new message, contact and status for our number in one transaction.

    The commit is on disk when this returns (the webhook answers 200 only then). A send that Meta
    failed with 131047 queues the re-engagement template from reengage, once per turn.
    """
    [saved] = save_deliveries([(body, delivery)], phone_number_id, now, reengage)
    return saved


def save_deliveries(batch: Sequence[tuple[bytes, Delivery]], phone_number_id: str,
                    now: Optional[datetime] = None, reengage: Optional[Reengage] = None) -> list[SavedDelivery]:
    """Store several deliveries as save_delivery does, in one transaction (one flush to disk).

    Each step (messages, contacts, statuses, the raw log) is one statement or one executemany for
    the whole batch, not statements per delivery: every statement gives up the GIL and waits to take
    it back from a busy turn. (On PostgreSQL an executemany of updates is still a round trip per row.)
    """
    now = now or utcnow()
    messages = [[m for m in delivery.messages if m.phone_number_id == phone_number_id and m.wamid and m.wa_id]
                for _body, delivery in batch]
    updates = [[s for s in delivery.statuses if s.phone_number_id == phone_number_id and s.wamid]
               for _body, delivery in batch]
    firsts: dict[str, InboundMessage] = {}  # wamid -> its first copy (a batch may hold one twice)
    for message in chain.from_iterable(messages):
        firsts.setdefault(message.wamid, message)
    with writing(durable=True) as session:
        rows = {wamid: _inbound_row(message, now) for wamid, message in firsts.items()}
        inserted = insert_new(session, inbound, list(rows.values()), "wamid")
        stopped = _record_contacts(session, [firsts[wamid] for wamid in rows if wamid in inserted], now)
        apply_statuses(session, list(chain.from_iterable(updates)), now)
        results = []
        for (body, delivery), mine, its_updates in zip(batch, messages, updates):
            for preference in delivery.preferences:
                if preference.phone_number_id == phone_number_id:
                    apply_preference(session, preference, now)
            new = [m for m in mine if m.wamid in inserted and firsts[m.wamid] is m]
            pending = [m for m in new if rows[m.wamid]["state"] == "pending"]  # not expired
            senders = tuple(dict.fromkeys(m.wa_id for m in pending))
            results.append(SavedDelivery(
                len(new), len(mine) - len(new), len(its_updates), len(delivery.messages) - len(mine),
                tuple(m.wamid for m in pending),
                frozenset(stopped.intersection(senders)),
                sum(window_closed(session, status, now, reengage) for status in its_updates), senders))
        session.execute(_LOG_WEBHOOK, [{"received_at": now, "body": body, "signature_ok": True,
                                        "messages": saved.new_messages, "statuses": saved.statuses}
                                       for (body, _delivery), saved in zip(batch, results)])
        return results


def _inbound_row(message: InboundMessage, now: datetime) -> dict[str, Any]:
    """Return the inbound row of a new message: pending, or expired if Meta delivers it too late to answer."""
    sent_at = _from_unix(message.timestamp) or now
    expired = now - sent_at > SERVICE_WINDOW  # Meta retries for days; a stale question gets no answer
    return {"wamid": message.wamid, "wa_id": message.wa_id, "phone_number_id": message.phone_number_id,
            "kind": message.kind, "text": message.text, "meta": message.metadata(),
            "timestamp": message.timestamp, "state": "expired" if expired else "pending", "attempts": 0,
            "received_at": now}


def _record_contacts(session: Session, messages: Sequence[InboundMessage], now: datetime) -> set[str]:
    """Record the senders of new messages (first seen, last seen, window, names); return those opted out.

    A few statements for the whole batch, as db.insert_new: on PostgreSQL one insert that updates a
    known contact instead and returns every contact's opt-out; on SQLite a look-up, then the new
    contacts inserted and the known ones updated, each an executemany of a statement compiled once.
    """
    latest: dict[str, dict[str, Any]] = {}
    for message in messages:
        sent_at = _from_unix(message.timestamp) or now
        row = latest.setdefault(message.wa_id, {
            "wa_id": message.wa_id, "user_id": None, "profile_name": None, "first_seen": now, "last_seen": now,
            "last_inbound_at": sent_at, "opted_out": False, "marketing_stopped": False})
        row["last_inbound_at"] = max(row["last_inbound_at"], sent_at)
        row["user_id"] = message.user_id or row["user_id"]
        row["profile_name"] = message.profile_name or row["profile_name"]
    if not latest:
        return set()
    rows = sorted(latest.values(), key=lambda row: row["wa_id"])  # one lock order for every batch
    if session.get_bind().dialect.name == "postgresql":
        params = params_of(rows, _CONTACT_COLUMNS)
        return {wa_id for wa_id, opted_out in session.execute(_pg_record_contacts(len(rows)), params) if opted_out}
    known = dict(session.execute(_KNOWN_CONTACTS, {"who": list(latest)}).all())
    insert_ignore_many(session, contacts, [row for row in rows if row["wa_id"] not in known], ["wa_id"])
    seen = [{"who": row["wa_id"], "now": now, "sent_at": row["last_inbound_at"], "name": row["profile_name"],
             "user": row["user_id"]} for row in rows if row["wa_id"] in known]
    if seen:
        session.execute(_SEEN_AGAIN, seen)
    return {wa_id for wa_id, opted_out in known.items() if opted_out}


_c = contacts.c
_CONTACT_COLUMNS = ("wa_id", "user_id", "profile_name", "first_seen", "last_seen", "last_inbound_at", "opted_out",
                    "marketing_stopped")
_KNOWN_CONTACTS = select(_c.wa_id, _c.opted_out).where(_c.wa_id.in_(bindparam("who", expanding=True)))


def _seen_again(last_seen: Any, sent_at: Any, name: Any, user: Any) -> dict[str, Any]:
    """Return how a known contact that wrote again changes: last seen now, the window from its
    newest message (Meta may deliver an older one later), the names if this message gave them."""
    return {"last_seen": last_seen,
            "last_inbound_at": case((or_(_c.last_inbound_at.is_(None), _c.last_inbound_at < sent_at), sent_at),
                                    else_=_c.last_inbound_at),
            "profile_name": func.coalesce(name, _c.profile_name), "user_id": func.coalesce(user, _c.user_id)}


_SEEN_AGAIN = update(contacts).where(_c.wa_id == bindparam("who")).values(_seen_again(
    bindparam("now"), bindparam("sent_at"), bindparam("name", type_=String), bindparam("user", type_=String)))
_LOG_WEBHOOK = insert(webhooks)


@lru_cache(maxsize=128)
def _pg_record_contacts(count: int) -> Any:
    """Return PostgreSQL's insert of count contacts that updates a known one as _SEEN_AGAIN does and
    returns (wa_id, opted_out) of each."""
    statement = postgresql.insert(contacts).values(values_of(contacts, _CONTACT_COLUMNS, count))
    new = statement.excluded
    return statement.on_conflict_do_update(index_elements=["wa_id"], set_=_seen_again(
        new.last_seen, new.last_inbound_at, new.profile_name, new.user_id)).returning(_c.wa_id, _c.opted_out)


MARKETING_CATEGORY = "marketing_messages"
MARKETING_VALUES = {"stop": True, "resume": False}  # value -> marketing_stopped


def apply_preference(session: Session, preference: PreferenceUpdate, now: datetime) -> bool:
    """Apply a marketing stop or resume unless a newer one was applied; return True if it was.

    Meta may deliver a preference late or again, so they are applied in the order of their
    timestamps, not of their arrival: one older than the last applied is ignored.
    """
    stopped = MARKETING_VALUES.get(preference.value)
    if preference.category != MARKETING_CATEGORY or stopped is None or not preference.wa_id:
        return False
    at = preference.timestamp or int(now.replace(tzinfo=timezone.utc).timestamp())  # Meta always sends one
    insert_ignore(session, contacts, {  # a number that never wrote yet: remember its choice for later
        "wa_id": preference.wa_id, "first_seen": now, "last_seen": now, "last_inbound_at": None,
        "opted_out": False, "marketing_stopped": stopped, "marketing_preference_at": at}, ["wa_id"])
    c = contacts.c
    applied = session.execute(update(contacts).where(
        c.wa_id == preference.wa_id, or_(c.marketing_preference_at.is_(None), c.marketing_preference_at <= at))
        .values(marketing_stopped=stopped, marketing_preference_at=at))
    return applied.rowcount == 1


_o = outbox.c
ROW_ID_MAX = 2**31 - 1  # the outbox's id is a 32-bit integer on PostgreSQL
# or_, not in_: SQLAlchemy 1.4 makes in_'s list an expanding parameter, which executemany refuses.
_ADOPT_SEND = (update(outbox).where(_o.id == bindparam("row"), _o.graph_wamid.is_(None),
                                   or_(_o.state == "queued", _o.state == "sending"))
               .values(graph_wamid=bindparam("wamid"), state="sent", sent_at=bindparam("now"),
                       lease_owner=None, lease_until=None))
# A status only moves a row forward; an error code is kept from the status that carried one.
_MOVE_FORWARD = (update(outbox).where(_o.graph_wamid == bindparam("wamid"), _o.status_rank < bindparam("rank"))
                 .values(delivery_status=bindparam("status"), status_rank=bindparam("new_rank"),
                         last_error_code=func.coalesce(bindparam("code", type_=Integer), _o.last_error_code)))


def apply_statuses(session: Session, updates: Sequence[StatusUpdate], now: datetime) -> None:
    """Log each status once per (wamid, status) and move its outbox row forward, never back.

    The batch's statuses (Meta sends sent, delivered and read for every reply, each on its own
    webhook) cost one executemany per step (log, adopt, move forward); on PostgreSQL the log is one
    round trip and each update still one per status. 131047 failures: `window_closed`.
    """
    if not updates:
        return
    # One lock order for every batch (see db.lock_keys); a row only moves forward, so order is free.
    updates = sorted(updates, key=lambda status: (status.wamid, status.status))
    insert_ignore_many(session, statuses, [{
        "wamid": status.wamid, "status": status.status, "recipient_id": status.recipient_id,
        "timestamp": status.timestamp, "error_codes": list(status.error_codes), "received_at": now,
    } for status in updates], ["wamid", "status"])
    # Meta accepted a send whose answer we never stored (crash, timeout): adopt it, never resend.
    adopted = [{"row": row_id, "wamid": status.wamid, "now": now} for status in updates
               if (row_id := _callback_row(status.callback_data)) is not None]
    if adopted:
        session.execute(_ADOPT_SEND, adopted)
    moved = [{"wamid": status.wamid, "rank": rank, "new_rank": rank, "status": status.status,
              "code": status.error_codes[0] if status.error_codes else None}
             for status in updates if (rank := status_rank(status.status))]
    if moved:
        session.execute(_MOVE_FORWARD, moved)


def window_closed(session: Session, status: StatusUpdate, now: datetime, reengage: Optional[Reengage]) -> int:
    """Return 1 if this status is a send failed with 131047 that queued the re-engagement template, else 0."""
    if status.status != "failed" or WINDOW_CLOSED not in status.error_codes:
        return 0
    return _window_closed(session, status.wamid, now, reengage)


def _window_closed(session: Session, graph_wamid: str, now: datetime, reengage: Optional[Reengage]) -> int:
    """Record that a sent message failed as the window had closed; queue the template once per turn."""
    o = outbox.c
    row = session.execute(select(o.id, o.wa_id, o.inbound_wamid, o.kind)
                          .where(o.graph_wamid == graph_wamid).limit(1)).first()
    if row is None:
        return 0
    session.execute(update(outbox).where(o.id == row.id).values(last_error="window_closed"))
    payload = reengage(row.wa_id) if reengage is not None and row.kind != TEMPLATE_KIND else None
    if payload is None:
        return 0  # no template configured: the failure is recorded on the row
    item = OutboxItem(row.wa_id, row.inbound_wamid, TEMPLATE_SEQ, TEMPLATE_KIND, payload)
    return queue_rows(session, [item], now)


def senders_with_work(now: Optional[datetime] = None, limit: int = 100) -> list[str]:
    """Return senders with a pending message (or one whose lease lapsed), oldest arrival first."""
    i = inbound.c
    stmt = (select(i.wa_id).where(_CLAIMABLE).group_by(i.wa_id)
            .order_by(func.min(i.id)).limit(limit))
    with channel_sessions()() as session:
        return list(session.scalars(stmt, {"now": now or utcnow()}))


# Statements of the per-turn path, built once with bound parameters: building them per call cost
# SQLAlchemy several times the queries themselves.
_i = inbound.c
# An inbound row that may be (re)claimed now.
_CLAIMABLE = or_(_i.state == "pending", and_(_i.state == "processing", _i.lease_until < bindparam("now")))
_PAUSED = select(Handoff.__table__.c.id).where(Handoff.__table__.c.open_key == _i.wa_id).exists().label("paused")
_NEXT_MESSAGE = (select(inbound, contacts.c.opted_out, _PAUSED)
                 .join(contacts, contacts.c.wa_id == _i.wa_id, isouter=True)
                 .where(_i.wa_id == bindparam("who"), _CLAIMABLE).order_by(_i.timestamp, _i.id).limit(1))
# One message per sender at a time, even without a lease.
_ANOTHER_IN_HAND = select(_i.id).where(_i.wa_id == bindparam("who"), _i.id != bindparam("row"),
                                       _i.state == "processing", _i.lease_until >= bindparam("now")).limit(1)
_CLAIM_MESSAGE = (update(inbound).where(_i.id == bindparam("row"), _CLAIMABLE)
                  .values(state="processing", lease_owner=bindparam("owner"), lease_until=bindparam("until"),
                          attempts=_i.attempts + 1))
_ANOTHER_WAITING = select(_i.id).where(_i.wa_id == bindparam("who"), _CLAIMABLE).limit(1)


def _finish(refund_attempt: bool) -> Any:
    """Return the update that records a held message's outcome (a refund gives the try back)."""
    attempts = case((_i.attempts > 0, _i.attempts - 1), else_=0) if refund_attempt else _i.attempts
    return (update(inbound).where(_i.id == bindparam("row"), _i.lease_owner == bindparam("owner"),
                                  _i.state == "processing")
            .values(state=bindparam("state"), lease_owner=None, lease_until=None, last_error=bindparam("error"),
                    attempts=attempts, done_at=bindparam("done_at")))


_FINISH = {refund: _finish(refund) for refund in (False, True)}
_OPT = (update(contacts).where(contacts.c.wa_id == bindparam("who"), contacts.c.opted_out == bindparam("was"))
        .values(opted_out=bindparam("opted_out"), opted_out_at=bindparam("at")))


def claim_next_inbound(wa_id: str, owner: str, ttl: timedelta,
                       now: Optional[datetime] = None) -> Optional[InboundView]:
    """Claim this sender's next message in (timestamp, arrival) order, or return None."""
    now = now or utcnow()
    with writing(key=f"in:{wa_id}") as session:
        row = session.execute(_NEXT_MESSAGE, {"who": wa_id, "now": now}).first()
        if row is None:
            return None
        if session.execute(_ANOTHER_IN_HAND, {"who": wa_id, "row": row.id, "now": now}).first() is not None:
            return None
        claimed = session.execute(_CLAIM_MESSAGE, {"row": row.id, "now": now, "owner": owner, "until": now + ttl})
        if claimed.rowcount != 1:
            return None
        return InboundView(row.id, row.wamid, row.wa_id, row.kind, row.text, dict(row.meta or {}),
                           row.timestamp, row.attempts + 1, bool(row.opted_out), row.last_error, bool(row.paused))


@dataclass(frozen=True)
class TurnRecorded:
    """What recording a turn's outcome left to do."""

    more: bool  # the sender has another message that may be claimed now
    sending: tuple[OutboxView, ...] = ()  # its replies, already claimed for sending by this process
    held: bool = True  # the claim was still ours, so the message's state was written


def finish_turn(message: InboundView, owner: str, state: str, error: Optional[str] = None,
                replies: Sequence[OutboxItem] = (), opted_out: Optional[bool] = None,
                refund_attempt: bool = False, send_ttl: Optional[timedelta] = None,
                now: Optional[datetime] = None) -> TurnRecorded:
    """Record a turn's outcome in one transaction: the message's state, its replies, STOP/START.

    The replies are queued (keyed, so a re-run adds nothing) even if the claim was lost meanwhile.
    With send_ttl, the same transaction claims them for this process's sender when they are next in
    the recipient's queue, to be handed over in memory; otherwise the sender hears of them after the
    commit. `more` lets the worker go on with the sender's next message without being told.
    A claim counts as a try (claim_next_inbound); refund_attempt gives it back when the try failed
    for a reason that is not the message's (a lock store or database outage).
    """
    now = now or utcnow()
    who = message.wa_id
    with writing(key=f"in:{who}") as session:
        held = session.execute(_FINISH[refund_attempt], {
            "row": message.id, "owner": owner, "state": state, "error": error,
            "done_at": now if state != "pending" else None}).rowcount == 1
        # STOP/START first: the claim below reads opted_out, so a row queued by someone else and due
        # now is claimed as opted out (and not sent) once STOP is in.
        if opted_out is not None:
            session.execute(_OPT, {"who": who, "was": not opted_out, "opted_out": opted_out,
                                   "at": now if opted_out else None})
        sending: list[OutboxView] = []
        if queue_rows(session, replies, now) and send_ttl is not None:
            lock_also(session, f"out:{who}")
            sending = claim_due_rows(session, who, owner, send_ttl, CLAIM_BATCH, now)
        more = state != "pending" and session.execute(_ANOTHER_WAITING, {"who": who, "now": now}).first() is not None
    return TurnRecorded(more, tuple(sending), held)


def is_opted_out(wa_id: str) -> bool:
    """Return True if the contact sent STOP and not START since."""
    with channel_sessions()() as session:
        return bool(session.scalar(select(contacts.c.opted_out).where(contacts.c.wa_id == wa_id)))


def extend_leases(owner: str, inbound_ids: Iterable[int], outbox_ids: Iterable[int], ttl: timedelta) -> None:
    """Push back the expiry of every message and outbox row this process still works on (the heartbeat)."""
    inbound_ids, outbox_ids = list(inbound_ids), list(outbox_ids)
    if not inbound_ids and not outbox_ids:
        return
    until = utcnow() + ttl
    with writing() as session:
        for table, ids in ((inbound, inbound_ids), (outbox, outbox_ids)):
            if ids:
                session.execute(update(table).where(table.c.id.in_(ids), table.c.lease_owner == owner)
                                .values(lease_until=until))



def _callback_row(data: str) -> Optional[int]:
    """Return the outbox id named by biz_opaque_callback_data, or None."""
    rest = data[len(CALLBACK_PREFIX):] if data.startswith(CALLBACK_PREFIX) else ""
    if not (rest.isascii() and rest.isdigit()) or len(rest) > 10:  # isdigit alone accepts "²"
        return None
    row = int(rest)
    return row if row <= ROW_ID_MAX else None


def _from_unix(seconds: int) -> Optional[datetime]:
    """Return Meta's Unix timestamp as naive UTC; 0 (missing) gives None."""
    if seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):  # past year 9999: not a real time, treated as missing
        return None
