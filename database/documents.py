"""Order documents: the caller's company's (or any, for staff), and replacing one on re-upload."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import select

from database.access import visible_to
from database.clock import utcnow
from database.models import Order, OrderDocument
from database.session import lock_for_write, sessions
from database.views import DocumentView
from database.document_files import CheckedFile


def _to_view(document: OrderDocument, order_ref: str) -> DocumentView:
    return DocumentView(
        order_ref=order_ref,
        kind=document.kind,
        filename=document.filename,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        storage_path=document.storage_path,
        url=document.url,
        created_at=document.created_at,
    )


def find_document(wa_id: str, order_ref: str, kind: str) -> Optional[DocumentView]:
    """Return the order's current document of that kind if the caller may see the order, else None."""
    stmt = (
        select(OrderDocument, Order.ref)
        .join(Order, OrderDocument.order_id == Order.id)
        .where(Order.ref == order_ref, OrderDocument.kind == kind, visible_to(wa_id, Order.company_id))
    )
    with sessions()() as session:
        row = session.execute(stmt).first()
        return _to_view(*row) if row else None


def order_exists(order_ref: str) -> bool:
    """Return True if an order has this reference (for the business's own data API, not customers)."""
    with sessions()() as session:
        return session.scalar(select(Order.id).where(Order.ref == order_ref)) is not None


def put_document(
    order_ref: str, kind: str, checked: CheckedFile, storage_path: Optional[str] = None, url: Optional[str] = None
) -> DocumentView:
    """Make this file or URL the order's current document of that kind, replacing any earlier one.

    Raises LookupError when no order has that reference.
    """
    with sessions().begin() as session:
        lock_for_write(session, f"document:{order_ref}:{kind}")
        order_id = session.scalar(select(Order.id).where(Order.ref == order_ref))
        if order_id is None:
            raise LookupError(order_ref)
        document = session.scalars(
            select(OrderDocument).where(OrderDocument.order_id == order_id, OrderDocument.kind == kind)
        ).first()
        if document is None:
            document = OrderDocument(order_id=order_id, kind=kind)
            session.add(document)
        document.filename = checked.filename
        document.content_type = checked.content_type
        document.size_bytes = checked.size if storage_path else None
        document.sha256 = checked.sha256 if storage_path else None
        document.storage_path = storage_path
        document.url = url
        document.created_at = utcnow()
        session.flush()
        return _to_view(document, order_ref)
