"""What a person does in a conversation: reply, send a template, take over, hand back.

Sync functions for asyncio.to_thread. A reply is one transaction: the outbox row (kind "staff", key
`staff:<uuid>`), its author in staff_messages, the handoff's activity and the audit row, so a reply
is never sent without its author nor recorded without being queued. The rules are the operator API's
(connectors/management/outbound.py): nothing to a number that sent STOP, free text only inside the
24-hour window (else a template), and a reply only in a conversation a person has (take it over first).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import AbstractSet, Optional

from sqlalchemy import insert, select, update

from database.clock import utcnow
from database.handoffs import request_handoff
from database.session import lock_for_write, sessions
from connectors.management import handoff, outbound
from connectors.management.inputs import Template
from connectors.management.outbound import Refused
from connectors.staff import audit
from connectors.staff.inbox import holder_of
from connectors.staff.config import OfferedTemplate
from connectors.staff.sessions import StaffSession
from connectors.staff.tables import messages as staff_messages
from connectors.whatsapp.outbox import OutboxItem, queue_rows
from connectors.whatsapp.render import render_response
from connectors.whatsapp.tables import contacts, outbox


class NotFound(LookupError):
    """No conversation with this number (404 conversation_not_found)."""


def reply(staff: StaffSession, wa_id: str, text: str, ip: str, now: Optional[datetime] = None) -> int:
    """Queue a person's text to the customer; return the outbox id.

    Raises Refused (409): not_taken_over, opted_out, or outside_service_window (hint: a template).
    """
    now = now or utcnow()
    _known(wa_id)
    if not handoff.is_paused(wa_id):
        raise Refused("not_taken_over", "take the conversation over first, so the bot stops answering")
    outbound.check_free_form(outbound.contact_state(wa_id), now)
    [payload] = render_response(wa_id, {"text": text}).payloads
    return _queue(staff, wa_id, outbound.KIND_STAFF, payload, "reply", ip, now)


def send_template(staff: StaffSession, wa_id: str, offered: OfferedTemplate, ip: str,
                  marketing_templates: AbstractSet[str] = frozenset(), now: Optional[datetime] = None) -> int:
    """Queue one of the offered templates (the window may be closed); return the outbox id.

    Raises Refused (409): opted_out, or marketing_opted_out for a marketing template to a number
    that stopped marketing messages.
    """
    now = now or utcnow()
    _known(wa_id)
    state = outbound.contact_state(wa_id)
    if state.opted_out:
        raise Refused("opted_out")
    if state.marketing_stopped and offered.name in marketing_templates:
        raise Refused("marketing_opted_out", "send a utility template")
    template = Template(offered.name, offered.language)
    [payload] = render_response(wa_id, {"custom": {"type": "template", "template": template.to_graph()}}).payloads
    return _queue(staff, wa_id, outbound.KIND_TEMPLATE, payload, "template", ip, now)


def take_over(staff: StaffSession, wa_id: str, ip: str, now: Optional[datetime] = None) -> bool:
    """Open a handoff (the bot pauses) and record who took it; return False if one was open already.

    Raises Refused (409) taken_by_other when another person has it already: of two people taking
    over at once, one gets it and the other is told who did.
    """
    now = now or utcnow()
    _known(wa_id)
    opened = request_handoff(wa_id, now)
    h = handoff.handoffs.c
    with sessions().begin() as session:
        lock_for_write(session, f"out:{wa_id}")
        since = session.scalar(select(h.requested_at).where(h.open_key == wa_id))
        holder = None if since is None else holder_of(session, wa_id, since)
        if holder is not None and holder[0] != staff.account_id:
            raise Refused("taken_by_other", f"{holder[1]} has it; ask them to hand it back")
        # Never dated before the handoff it takes (another person's may have opened it a moment later).
        audit.record_in(session, staff.username, "take_over", staff.account_id, wa_id,
                        None if opened else "already_open", ip, max(now, since or now))
    return opened


def hand_back(staff: StaffSession, wa_id: str, ip: str, now: Optional[datetime] = None) -> Optional[int]:
    """Hand the conversation back to the bot (the customer is told); return the note's outbox id or None."""
    now = now or utcnow()
    note_id = handoff.release(wa_id, "staff", now)
    if note_id is not None:
        audit.record(staff.username, "hand_back", staff.account_id, wa_id, f"outbox:{note_id}", ip, now)
    return note_id


def _queue(staff: StaffSession, wa_id: str, kind: str, payload: dict, action: str, ip: str, now: datetime) -> int:
    """Queue one outbox row with its author, the handoff's activity and the audit row; return its id."""
    key = f"staff:{uuid.uuid4().hex}"
    h = handoff.handoffs.c
    with sessions().begin() as session:
        lock_for_write(session, f"out:{wa_id}")
        # The UPDATE locks the open handoff's row (a SELECT would not on PostgreSQL), so a hand-back
        # committing meanwhile leaves it matching nothing and the reply is refused, never sent after the note.
        touched = session.execute(update(handoff.handoffs).where(h.open_key == wa_id)
                                  .values(last_activity_at=now, staff_replies=h.staff_replies + 1)).rowcount
        if kind == outbound.KIND_STAFF and touched != 1:
            raise Refused("not_taken_over", "take the conversation over first")  # handed back meanwhile
        queue_rows(session, [OutboxItem(wa_id, key, 0, kind, payload)], now)
        session.execute(insert(staff_messages).values(outbox_key=key, account_id=staff.account_id, created_at=now))
        audit.record_in(session, staff.username, action, staff.account_id, wa_id, key, ip, now)
        return int(session.scalar(select(outbox.c.id).where(outbox.c.inbound_wamid == key, outbox.c.seq == 0)))


def _known(wa_id: str) -> None:
    """Raise NotFound unless the number has written to us."""
    with sessions()() as session:
        if session.scalar(select(contacts.c.wa_id).where(contacts.c.wa_id == wa_id)) is None:
            raise NotFound(wa_id)
