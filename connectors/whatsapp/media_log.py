"""The record of downloaded inbound files: the sender's quota reads it (retention.py prunes it).

Sync functions, each in its own transaction; call them through asyncio.to_thread.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import func, select

from database.clock import utcnow
from connectors.whatsapp.db import channel_sessions, insert_ignore, writing
from connectors.whatsapp.tables import media


def bytes_since(wa_id: str, since: datetime, other_than: str = "") -> int:
    """Return how many bytes of this sender's files were downloaded since `since`.

    other_than: a wamid not to count (the message being handled again after a crash).
    """
    m = media.c
    with channel_sessions()() as session:
        return int(session.scalar(select(func.coalesce(func.sum(m.bytes), 0))
                                  .where(m.wa_id == wa_id, m.downloaded_at >= since, m.wamid != other_than)) or 0)


def record_download(wamid: str, wa_id: str, media_id: str, path: str, size: int,
                    now: Optional[datetime] = None) -> bool:
    """Record one downloaded file once per message (a retried turn does not count it twice)."""
    row = {"wamid": wamid, "wa_id": wa_id, "media_id": media_id, "path": path, "bytes": size,
           "downloaded_at": now or utcnow()}
    with writing(key=f"in:{wa_id}") as session:
        return insert_ignore(session, media, row, ["wamid"])
