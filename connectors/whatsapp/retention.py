"""Delete what the channel no longer needs: old media files and their records, old raw webhook bodies.

Runs with the channel (every RUN_EVERY_SECONDS, first shortly after start). Every delete is a
bounded batch in a worker thread, so neither Rasa's loop nor the webhook's writes wait long for it.
Media files go WHATSAPP_MEDIA_RETENTION_DAYS after they were written (a defect report's photo
reference then points at a removed file); the webhook log keeps WHATSAPP_WEBHOOK_LOG_RETENTION_DAYS.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from functools import partial
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional

from sqlalchemy import Table, delete, select

from database.clock import utcnow
from connectors.whatsapp.background import log_failure
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.db import writing
from connectors.whatsapp.media_fetch import PART_SUFFIX
from connectors.whatsapp.tables import media, webhooks

logger = logging.getLogger(__name__)

RUN_EVERY_SECONDS = 3600.0
FIRST_RUN_SECONDS = 30.0  # after start, once the first deliveries are through
BATCH = 500  # rows or files per delete
BATCH_PAUSE_SECONDS = 0.01  # between batches: other writers get the database
PART_MAX_AGE = timedelta(hours=1)  # a part file this old was left by a crash


@dataclass(frozen=True)
class Removed:
    """What one run deleted."""

    webhooks: int = 0
    media_rows: int = 0
    files: int = 0


class RetentionJob:
    """Apply the retention periods now and then, until cancelled."""

    def __init__(self, config: WhatsAppConfig, batch: int = BATCH) -> None:
        self.media_dir = config.media_dir
        self.media_days = timedelta(days=config.media_retention_days)
        self.webhook_days = timedelta(days=config.webhook_log_retention_days)
        self.batch = batch

    async def run(self, first: float = FIRST_RUN_SECONDS, every: float = RUN_EVERY_SECONDS) -> None:
        """Run once after `first` seconds, then every `every` seconds."""
        await asyncio.sleep(first)
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # noqa: BLE001 - a failed round (database busy) is retried next time
                log_failure("whatsapp.retention.failed", exc)
            await asyncio.sleep(every)

    async def run_once(self, now: Optional[datetime] = None) -> Removed:
        """Delete everything older than its retention period; return how much."""
        now = now or utcnow()
        removed = Removed(
            webhooks=await self._batches(partial(delete_before, webhooks, "received_at"), now - self.webhook_days),
            media_rows=await self._batches(partial(delete_before, media, "downloaded_at"), now - self.media_days),
            files=await self._sweep_files(now),
        )
        if removed != Removed():
            logger.info("whatsapp.retention.done webhooks=%s media_rows=%s files=%s",
                        removed.webhooks, removed.media_rows, removed.files)
        return removed

    async def _batches(self, delete_some: Callable[[datetime, int], int], cutoff: datetime) -> int:
        """Call delete_some(cutoff, batch) in a thread until a batch comes back short."""
        total = 0
        while True:
            count = await asyncio.to_thread(delete_some, cutoff, self.batch)
            total += count
            if count < self.batch:
                return total
            await asyncio.sleep(BATCH_PAUSE_SECONDS)

    async def _sweep_files(self, now: datetime) -> int:
        """Delete media files older than the retention period (and stale part files), a batch at a time."""
        if not await asyncio.to_thread(self.media_dir.is_dir):
            return 0
        files_before = _epoch(now - self.media_days)
        parts_before = _epoch(now - PART_MAX_AGE)
        entries = await asyncio.to_thread(os.scandir, self.media_dir)
        total = 0
        try:
            while True:
                count = await asyncio.to_thread(_delete_some, entries, files_before, parts_before, self.batch)
                total += count
                if count < self.batch:
                    return total
                await asyncio.sleep(BATCH_PAUSE_SECONDS)
        finally:
            entries.close()


def delete_before(table: Table, column: str, cutoff: datetime, limit: int) -> int:
    """Delete up to limit rows of table whose column is before cutoff, oldest first; return how many."""
    c = table.c
    # Ids grow with arrival, so the oldest rows come first in id order: no index on the time column needed.
    oldest = select(c.id).where(c[column] < cutoff).order_by(c.id).limit(limit)
    with writing() as session:
        ids = list(session.scalars(oldest))
        if ids:
            session.execute(delete(table).where(c.id.in_(ids)))
        return len(ids)


def _epoch(moment: datetime) -> float:
    """Return a naive UTC datetime (the database's) as Unix seconds, to compare with file times."""
    return moment.replace(tzinfo=timezone.utc).timestamp() if moment.tzinfo is None else moment.timestamp()


def _delete_some(entries: Iterator[os.DirEntry], files_before: float, parts_before: float, limit: int) -> int:
    """Advance the directory scan, deleting expired files until limit are gone or the scan ends."""
    count = 0
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            cutoff = parts_before if entry.name.endswith(PART_SUFFIX) else files_before
            if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue
            Path(entry.path).unlink()
        except FileNotFoundError:
            continue  # another instance got there first
        count += 1
        if count >= limit:
            break
    return count
