"""Queue operator messages in the WhatsApp channel's outbox, so the normal sender delivers them.

Sync functions for asyncio.to_thread. Each message is one outbox row keyed (key, 0): a key names
its origin and makes a repeat a no-op (`api:<uuid>`, `staff:<uuid>`, `handoff:<id>:release`,
`notify:<entity>:<ref>:<status>`). Rows of free-form messages are refused here when the customer
opted out or the 24-hour service window is closed; the sender checks both again at send time. A
marketing template (one named in MARKETING_TEMPLATES) is refused to a number that stopped marketing
messages (Meta's `user_preferences`); utility and authentication templates still go.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import AbstractSet, Any, Optional

from sqlalchemy import select

from database.clock import utcnow
from database.session import sessions
from connectors.management.inputs import SendRequest, Template
from connectors.whatsapp import outbox as whatsapp_outbox
from connectors.whatsapp.outbox import OutboxItem
from connectors.whatsapp.render import render_response
from connectors.whatsapp.store import SERVICE_WINDOW
from connectors.whatsapp.tables import contacts, outbox

# Outbox kinds written here. "template" must stay "template": the sender sends only templates when
# the window is closed. "staff" marks a reply written by a person.
KIND_API, KIND_STAFF, KIND_NOTICE, KIND_TEMPLATE = "api", "staff", "notice", "template"
ORIGINS = {"api": "api", "staff": "staff", "handoff": "system", "notify": "notification"}


class Refused(Exception):
    """The message may not be sent now (409): opted_out, marketing_opted_out or outside_service_window."""

    def __init__(self, code: str, hint: Optional[str] = None) -> None:
        super().__init__(code)
        self.code = code
        self.hint = hint


@dataclass(frozen=True)
class ContactState:
    """What decides whether a number may get a message: STOP, marketing stopped, when it last wrote to us."""

    opted_out: bool = False
    last_inbound_at: Optional[datetime] = None
    marketing_stopped: bool = False

    def window_open(self, now: datetime) -> bool:
        """Return True if the number wrote within the last 24 hours (free-form text allowed)."""
        return self.last_inbound_at is not None and now - self.last_inbound_at <= SERVICE_WINDOW


def contact_state(wa_id: str) -> ContactState:
    """Return the number's opt-out flags and last inbound time (a stranger has none)."""
    c = contacts.c
    with sessions()() as session:
        row = session.execute(select(c.opted_out, c.last_inbound_at, c.marketing_stopped)
                              .where(c.wa_id == wa_id)).first()
    if row is None:
        return ContactState()
    return ContactState(bool(row.opted_out), row.last_inbound_at, bool(row.marketing_stopped))


def check_free_form(state: ContactState, now: datetime) -> None:
    """Raise Refused unless a free-form message may go to this contact now."""
    if state.opted_out:
        raise Refused("opted_out")
    if not state.window_open(now):
        raise Refused("outside_service_window", "send a template")


def send(request: SendRequest, marketing_templates: AbstractSet[str] = frozenset(),
         now: Optional[datetime] = None) -> int:
    """Queue POST /send's text or template after the opt-out and window checks; return the outbox id.

    marketing_templates: the names of templates Meta categorised as MARKETING (MARKETING_TEMPLATES).
    """
    now = now or utcnow()
    state = contact_state(request.to)
    if request.template is not None:
        if state.opted_out:
            raise Refused("opted_out")
        if state.marketing_stopped and request.template.name in marketing_templates:
            raise Refused("marketing_opted_out", "send a utility template")
        return enqueue_template(request.to, f"api:{uuid.uuid4().hex}", request.template)
    check_free_form(state, now)
    return enqueue_text(request.to, f"api:{uuid.uuid4().hex}", KIND_API, request.text or "")


def enqueue_text(wa_id: str, key: str, kind: str, text: str) -> int:
    """Queue one text message under key; return its outbox id (the existing one on a repeat)."""
    return _enqueue(wa_id, key, kind, {"text": text})


def enqueue_template(wa_id: str, key: str, template: Template) -> int:
    """Queue one template message under key; return its outbox id."""
    return _enqueue(wa_id, key, KIND_TEMPLATE, {"custom": {"type": "template", "template": template.to_graph()}})


def origin_of(key: str) -> str:
    """Return who wrote an outbox row, from its key: bot, api, staff, system or notification."""
    return ORIGINS.get(key.split(":", 1)[0], "bot") if ":" in key else "bot"


def _enqueue(wa_id: str, key: str, kind: str, response: dict[str, Any]) -> int:
    """Render one response to exactly one Graph body, enqueue it as (key, 0) and return the row id."""
    [payload] = render_response(wa_id, response).payloads
    whatsapp_outbox.enqueue([OutboxItem(wa_id, key, 0, kind, payload)])
    o = outbox.c
    with sessions()() as session:
        return int(session.scalar(select(o.id).where(o.inbound_wamid == key, o.seq == 0)))
