"""Support tickets; any number may open one, registered or not."""

from __future__ import annotations

from sqlalchemy import select

from database.clock import utcnow
from database.models import Customer, SupportTicket
from database.refs import next_ref, retry_on_clash
from database.session import lock_for_write, sessions
from database.views import TicketView


def create_ticket(wa_id: str, description: str) -> TicketView:
    """Open a support ticket from `wa_id` and return it with its new TCK- ref."""
    return retry_on_clash(lambda: _insert_ticket(wa_id, description))


def _insert_ticket(wa_id: str, description: str) -> TicketView:
    with sessions().begin() as session:
        lock_for_write(session, "ref:TCK")
        ticket = SupportTicket(
            ref=next_ref(session, SupportTicket.ref, "TCK"),
            wa_id=wa_id,
            customer_id=session.scalar(select(Customer.id).where(Customer.wa_id == wa_id)),
            description=description,
            status="open",
            created_at=utcnow(),
        )
        session.add(ticket)
        session.flush()  # a ref clash raises here, inside the retried transaction
        return TicketView(
            ref=ticket.ref,
            description=ticket.description,
            status=ticket.status,
            created_at=ticket.created_at,
        )
