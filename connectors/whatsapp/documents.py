"""Read an order document the sender must upload: from DOCUMENTS_DIR only, and only the expected bytes.

Sync I/O for asyncio.to_thread. The outbox names the file by a path relative to DOCUMENTS_DIR and its
SHA-256 (actions/documents.py put them there); a path leaving the folder, a missing file or other bytes
than the ones recorded are refused, so a payload can never make the channel upload another file.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

from database.document_store import resolve


class DocumentUnavailable(Exception):
    """The file to upload is gone, outside DOCUMENTS_DIR, or not the bytes recorded."""


@dataclass(frozen=True)
class Upload:
    """The bytes to upload and how Meta should see them."""

    data: bytes
    mime_type: str
    filename: str


def read_upload(mark: Mapping[str, Any]) -> Upload:
    """Return the file an outbox upload mark names, checked against its recorded SHA-256."""
    try:
        path = resolve(str(mark.get("path") or ""))
        data = path.read_bytes()
    except (OSError, ValueError) as exc:
        raise DocumentUnavailable(type(exc).__name__) from exc
    if hashlib.sha256(data).hexdigest() != str(mark.get("sha256") or ""):
        raise DocumentUnavailable("sha256 mismatch")
    return Upload(data, str(mark.get("mime_type") or "application/pdf"), str(mark.get("filename") or "document"))
