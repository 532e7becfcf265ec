"""The retention job against a real SQLite file and a real media dir: old goes, new stays."""
from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from database.clock import utcnow
from database.session import sessions
from connectors.whatsapp import media_log
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.retention import Removed, RetentionJob
from connectors.whatsapp.tables import media, webhooks
from tests.connectors.whatsapp_support import database  # noqa: F401

DAY = 86400


def config(media_dir: Path) -> WhatsAppConfig:
    """Return settings with the default retention periods (90 days of media, 14 of webhook log)."""
    return WhatsAppConfig("p", "w", "t", "s", "v", media_dir=media_dir)


def add_webhooks(days_old: float, count: int) -> None:
    """Log count raw webhook bodies received days_old days ago."""
    at = utcnow() - timedelta(days=days_old)
    with sessions().begin() as session:
        session.execute(insert(webhooks), [{"received_at": at, "body": b"{}", "signature_ok": True,
                                            "messages": 1, "statuses": 0} for _ in range(count)])


def add_file(media_dir: Path, name: str, days_old: float) -> Path:
    """Write a media file last modified days_old days ago."""
    media_dir.mkdir(parents=True, exist_ok=True)
    path = media_dir / name
    path.write_bytes(b"x")
    stamp = time.time() - days_old * DAY
    os.utime(path, (stamp, stamp))
    return path


def count(table) -> int:
    """Return the number of rows in table."""
    with sessions()() as session:
        return session.scalar(select(func.count()).select_from(table))


@pytest.mark.asyncio
async def test_old_webhook_bodies_media_files_and_records_go_new_ones_stay(database, tmp_path):
    """A run deletes webhook rows over 14 days and media over 90 days (in batches), and keeps the rest."""
    media_dir = tmp_path / "media"
    add_webhooks(days_old=15, count=7)
    add_webhooks(days_old=13, count=2)
    old_photo, new_photo = add_file(media_dir, "1001.jpg", 91), add_file(media_dir, "1002.jpg", 89)
    stale_part, live_part = add_file(media_dir, "1003.jpg.ab12.part", 0.1), add_file(media_dir, "1004.jpg.cd34.part", 0)
    for wamid, days_old in (("w1", 91), ("w2", 89)):
        media_log.record_download(wamid, "919800000001", wamid, str(media_dir / wamid), 10,
                                  now=utcnow() - timedelta(days=days_old))

    removed = await RetentionJob(config(media_dir), batch=3).run_once()

    assert removed == Removed(webhooks=7, media_rows=1, files=2)
    assert count(webhooks) == 2 and count(media) == 1
    assert (old_photo.exists(), new_photo.exists(), stale_part.exists(), live_part.exists()) == (
        False, True, False, True)
    assert await RetentionJob(config(media_dir), batch=3).run_once() == Removed()


@pytest.mark.asyncio
async def test_many_expired_files_are_deleted_in_several_batches(database, tmp_path):
    """Ten expired files with a batch of four are all deleted in one run; a missing media dir is fine."""
    media_dir = tmp_path / "media"
    assert await RetentionJob(config(media_dir)).run_once() == Removed()
    for n in range(10):
        add_file(media_dir, f"{n}.jpg", 100)
    assert (await RetentionJob(config(media_dir), batch=4).run_once()).files == 10
    assert list(media_dir.iterdir()) == []
