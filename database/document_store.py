"""Where document files live: DOCUMENTS_DIR (default var/documents), one file per content hash.

Sync I/O (call it in a worker thread). A file is written to a part file and renamed when complete,
so a reader never sees half a document. Files are named by their SHA-256, so the same bytes are
stored once and a stored path never changes meaning. The upload handling a data API route mounts is
`store_upload` / `store_url`: check, write, record, in that order, so a refused upload writes nothing.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Optional, Union

from database import documents
from database.session import PROJECT_ROOT
from database.views import DocumentView
from database.document_files import CheckedFile, Refusal, check_file, check_url, max_bytes_setting


class UnknownOrder(LookupError):
    """The order reference matches no order."""


def documents_dir() -> Path:
    """Return DOCUMENTS_DIR, or <project>/var/documents."""
    raw = os.environ.get("DOCUMENTS_DIR")
    return Path(raw) if raw else PROJECT_ROOT / "var" / "documents"


def max_bytes() -> int:
    """Return the largest document accepted (DOCUMENTS_MAX_BYTES, default 10 MB, at most 100 MB)."""
    return max_bytes_setting(os.environ.get("DOCUMENTS_MAX_BYTES"))


def write_file(data: bytes, checked: CheckedFile, root: Optional[Path] = None) -> str:
    """Write the bytes under the root (part file, fsync, rename) and return the path relative to it."""
    root = root or documents_dir()
    relative = f"{checked.sha256[:2]}/{checked.sha256}.{checked.extension}"
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.stat().st_size == checked.size:
        return relative  # the same bytes are already there
    part = target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")
    try:
        with open(part, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return relative


def resolve(relative: str, root: Optional[Path] = None) -> Path:
    """Return the absolute path of a stored document; refuse a path that leaves the root."""
    base = (root or documents_dir()).resolve()
    path = (base / relative).resolve()
    if base not in path.parents:
        raise ValueError("document path is outside DOCUMENTS_DIR")
    return path


def store_upload(order_ref: str, kind: str, data: bytes, filename: Optional[str]) -> Union[DocumentView, Refusal]:
    """Check an uploaded file, store it and make it the order's current document of that kind.

    Raises UnknownOrder when no order has that reference (nothing is written then).
    """
    if not documents.order_exists(order_ref):
        raise UnknownOrder(order_ref)
    checked = check_file(data, filename, kind, order_ref, max_bytes())
    if isinstance(checked, Refusal):
        return checked
    relative = write_file(data, checked)
    return documents.put_document(order_ref, kind, checked, storage_path=relative)


def store_url(order_ref: str, kind: str, url: str, filename: Optional[str] = None) -> Union[DocumentView, Refusal]:
    """Make an https URL the order's current document of that kind (Meta fetches it when sent)."""
    if not documents.order_exists(order_ref):
        raise UnknownOrder(order_ref)
    checked = check_url(url, kind, order_ref, filename)
    if isinstance(checked, Refusal):
        return checked
    return documents.put_document(order_ref, kind, checked, url=url)
