"""Demo documents for the seed: a one-page PDF invoice and packing list for ORD-10001.

Pillow draws the page; fixed dates make the bytes (and so the stored file's name) the same on every
run, so reseeding never piles up files in DOCUMENTS_DIR.
"""
from __future__ import annotations

import io
import time

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.orm import Session

from database.models import Order, OrderDocument
from database.document_files import check_file, kind_label
from database.document_store import write_file

DEMO_DOCUMENTS = (("ORD-10001", "invoice"), ("ORD-10001", "packing_list"))
_EPOCH = time.gmtime(0)


def demo_pdf(title: str, lines: list[str]) -> bytes:
    """Return a one-page A4 PDF with a title and a few lines of text."""
    page = Image.new("RGB", (595, 842), "white")
    draw = ImageDraw.Draw(page)
    draw.text((50, 50), title, fill="black", font=ImageFont.load_default(size=28))
    body = ImageFont.load_default(size=16)
    for n, line in enumerate(lines):
        draw.text((50, 110 + 26 * n), line, fill="black", font=body)
    out = io.BytesIO()
    page.save(out, "PDF", resolution=72, title=title, creationDate=_EPOCH, modDate=_EPOCH)
    return out.getvalue()


def demo_documents(session: Session) -> list[OrderDocument]:
    """Write the demo files to DOCUMENTS_DIR and return their rows for the seed's session."""
    rows = []
    for ref, kind in DEMO_DOCUMENTS:
        order = session.scalars(select(Order).where(Order.ref == ref)).one()
        title = f"{kind_label(kind).upper()} {ref}"
        data = demo_pdf(title, [f"Customer: {order.company.name}", f"Product: {order.product}",
                                f"Quantity: {order.quantity}", "Demo document for the local simulator."])
        checked = check_file(data, f"{kind_label(kind)} {ref}.pdf", kind, ref, len(data))
        rows.append(OrderDocument(
            order=order, kind=kind, filename=checked.filename, content_type=checked.content_type,
            size_bytes=checked.size, sha256=checked.sha256, storage_path=write_file(data, checked),
        ))
    return rows
