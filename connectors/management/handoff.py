"""Human handoff: which conversations a person has, staff replies, and handing back to the bot.

The action server opens a handoff (database/handoffs.py) when a customer asks for a person. From
then on the WhatsApp worker's claim of a message reads whether a person has the chat (an open
handoff): while one does, the message is stored and listed for staff, and the bot stays silent.
Staff reply through the outbox (kind "staff"); a release by staff or after HANDOFF_IDLE_MINUTES
without a message either way closes the handoff and queues RELEASE_NOTE in one transaction.
Every instance runs the idle hand-back; the closing UPDATE is conditional, so only one of them
releases a handoff and sends the note. Sync functions are for asyncio.to_thread.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import and_, exists, func, select, true, update

from database.clock import utcnow
from database.models import Customer, Handoff
from database.session import lock_for_write, sessions
from connectors.management import outbound
from connectors.whatsapp.outbox import OutboxItem, queue_rows
from connectors.whatsapp.render import render_response
from connectors.whatsapp.tables import contacts, inbound, outbox

logger = logging.getLogger(__name__)

RELEASE_NOTE = "You're back with the assistant. Type *menu* for options."
handoffs = Handoff.__table__


@dataclass(frozen=True)
class Waiting:
    """One conversation waiting for (or being answered by) a person."""

    wa_id: str
    since: datetime
    last_activity_at: datetime
    staff_replies: int
    messages_waiting: int  # customer messages since the request
    last_message_text: Optional[str]
    last_message_kind: Optional[str]
    last_message_at: Optional[datetime]
    profile_name: Optional[str]  # the WhatsApp profile name
    customer_name: Optional[str]  # the registered customer, if any
    company: Optional[str]


def is_paused(wa_id: str) -> bool:
    """Return True while a person has this conversation: the bot must not run a turn for it."""
    with sessions()() as session:
        return session.scalar(select(handoffs.c.id).where(handoffs.c.open_key == wa_id).limit(1)) is not None


def waiting(limit: int = 100) -> list[Waiting]:
    """Return open handoffs, oldest request first, with the customer's latest message."""
    h, i = handoffs.c, inbound.c
    latest = (select(i.text, i.kind, i.received_at).where(i.wa_id == h.wa_id)
              .order_by(i.received_at.desc(), i.id.desc()).limit(1))
    count = (select(func.count()).where(i.wa_id == h.wa_id, i.received_at >= h.requested_at)
             .scalar_subquery())
    stmt = (select(h.wa_id, h.requested_at, h.last_activity_at, h.staff_replies, count.label("count"),
                   latest.with_only_columns(i.text).scalar_subquery().label("text"),
                   latest.with_only_columns(i.kind).scalar_subquery().label("kind"),
                   latest.with_only_columns(i.received_at).scalar_subquery().label("at"),
                   contacts.c.profile_name, Customer.name, Customer.company)
            .join(contacts, contacts.c.wa_id == h.wa_id, isouter=True)
            .join(Customer, Customer.wa_id == h.wa_id, isouter=True)
            .where(h.open_key.is_not(None)).order_by(h.requested_at, h.id).limit(limit))
    with sessions()() as session:
        return [Waiting(r.wa_id, r.requested_at, r.last_activity_at, r.staff_replies, r.count, r.text, r.kind,
                        r.at, r.profile_name, r.name, r.company) for r in session.execute(stmt)]


def reply(wa_id: str, text: str, now: Optional[datetime] = None) -> Optional[int]:
    """Queue a staff reply in an open handoff; return the outbox id, None if no handoff is open.

    Raises outbound.Refused when the customer opted out or the service window is closed.
    """
    now = now or utcnow()
    if not is_paused(wa_id):
        return None
    outbound.check_free_form(outbound.contact_state(wa_id), now)
    row_id = outbound.enqueue_text(wa_id, f"staff:{uuid.uuid4().hex}", outbound.KIND_STAFF, text)
    h = handoffs.c
    with sessions().begin() as session:
        session.execute(update(handoffs).where(h.open_key == wa_id)
                        .values(last_activity_at=now, staff_replies=h.staff_replies + 1))
    return row_id


def release(wa_id: str, by: str = "staff", now: Optional[datetime] = None) -> Optional[int]:
    """Hand the conversation back to the bot with RELEASE_NOTE; return the note's outbox id or None."""
    h = handoffs.c
    with sessions()() as session:
        handoff_id = session.scalar(select(h.id).where(h.open_key == wa_id))
    if handoff_id is None:
        return None
    return _close(handoff_id, wa_id, by, now or utcnow())


def release_idle(handoff_id: int, wa_id: str, idle: timedelta, now: Optional[datetime] = None) -> Optional[int]:
    """Release this handoff if it is still open and still idle; return the note's outbox id or None.

    Checked again inside the closing UPDATE, so an instance acting on an older list of idle handoffs
    never closes one another instance already released, nor a newer one, nor one that just saw a message.
    """
    now = now or utcnow()
    h, i = handoffs.c, inbound.c
    recent = exists().where(i.wa_id == h.wa_id, i.received_at >= h.requested_at, i.received_at >= now - idle)
    return _close(handoff_id, wa_id, "idle", now, and_(h.last_activity_at < now - idle, ~recent))


def _close(handoff_id: int, wa_id: str, by: str, now: datetime, condition: Any = true()) -> Optional[int]:
    """Close the open handoff and queue RELEASE_NOTE in one transaction; return the note's id or None.

    The conditional UPDATE decides: of several instances releasing at once, exactly one closes it and
    queues the note (keyed by the handoff, so even a repeat could not send it twice).
    """
    h, o = handoffs.c, outbox.c
    key = f"handoff:{handoff_id}:release"
    [payload] = render_response(wa_id, {"text": RELEASE_NOTE}).payloads
    with sessions().begin() as session:
        lock_for_write(session)
        closed = session.execute(update(handoffs).where(h.id == handoff_id, h.open_key.is_not(None), condition)
                                 .values(open_key=None, state="released", released_at=now, released_by=by))
        if closed.rowcount != 1:
            return None
        queue_rows(session, [OutboxItem(wa_id, key, 0, outbound.KIND_NOTICE, payload)], now)
        note_id = int(session.scalar(select(o.id).where(o.inbound_wamid == key, o.seq == 0)))
    logger.info("management.handoff.released handoff=%s by=%s", handoff_id, by)
    return note_id


def idle_handoffs(idle: timedelta, now: Optional[datetime] = None) -> list[tuple[int, str]]:
    """Return (handoff id, number) of open handoffs that saw no message either way for longer than idle."""
    now = now or utcnow()
    h, i = handoffs.c, inbound.c
    last_in = (select(func.max(i.received_at)).where(i.wa_id == h.wa_id, i.received_at >= h.requested_at)
               .scalar_subquery())
    stmt = select(h.id, h.wa_id, h.last_activity_at, last_in.label("last_in")).where(
        and_(h.open_key.is_not(None), h.last_activity_at < now - idle))
    with sessions()() as session:
        rows = session.execute(stmt).all()
    return [(r.id, r.wa_id) for r in rows if r.last_in is None or r.last_in < now - idle]


class IdleHandBack:
    """Release handoffs nobody touched for idle minutes, checking a few times per idle period."""

    def __init__(self, idle_minutes: float) -> None:
        self.idle = timedelta(minutes=idle_minutes)
        self.interval = min(30.0, max(0.5, self.idle.total_seconds() / 4))

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # noqa: BLE001 - a failed round (db busy) is retried next time
                logger.warning("management.handoff.idle_failed error=%s", type(exc).__name__)
                logger.debug("management.handoff.idle_failed traceback", exc_info=exc)
            await asyncio.sleep(self.interval)

    async def run_once(self) -> int:
        """Release every idle handoff now; return how many."""
        released = 0
        for handoff_id, wa_id in await asyncio.to_thread(idle_handoffs, self.idle):
            if await asyncio.to_thread(release_idle, handoff_id, wa_id, self.idle) is not None:
                released += 1
        return released
