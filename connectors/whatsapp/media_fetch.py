"""Fetch an inbound file only when the conversation can use it, within the size cap and the quota.

The body streams to `<name>.<random>.part` in the media dir, a chunk at a time (disk writes in a
worker thread), and is renamed when complete: readers never see half a file and memory holds at
most WRITE_BYTES of it. A stream that passes its limit is stopped and its part file removed.
"""
from __future__ import annotations

import asyncio
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, BinaryIO, Callable, Mapping, Optional

from rasa.shared.core.trackers import DialogueStateTracker

from database.clock import utcnow
from database.customers import find_customer
from connectors.whatsapp import media_log
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.errors import GraphError
from connectors.whatsapp.graph import GraphClient
from connectors.whatsapp.media import (FAILED, NOT_NEEDED, QUOTA_WINDOW, TOO_LARGE, UNREGISTERED, MediaStep,
                                       describe, media_path, over_limit, refusal_before, refusal_text,
                                       step_for, stream_limit)

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024  # read from the socket at a time
WRITE_BYTES = 1024 * 1024  # written to disk at a time (the most of a body held in memory)
PART_SUFFIX = ".part"
TrackerOf = Callable[[str], Awaitable[Optional[DialogueStateTracker]]]


class TooLarge(Exception):
    """The body is longer than the download's limit (at least `size` bytes)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"media of at least {size} bytes")
        self.size = size


@dataclass(frozen=True)
class Fetched:
    """A complete file in the media dir."""

    path: Path
    mime_type: str
    size: int


async def media_for_turn(config: WhatsAppConfig, graph: GraphClient, tracker_of: TrackerOf, wa_id: str,
                         wamid: str, kind: str, meta: Mapping[str, Any],
                         now: Optional[datetime] = None) -> dict[str, Any]:
    """Download the message's file if a form step needs it now; return metadata["media"] for Rasa.

    Refusals carry `refused` and `notice` (the answer the form says before asking again).
    """
    described = describe(kind, meta.get("media") or {})
    if not await asyncio.to_thread(find_customer, wa_id):
        return _skipped(described, UNREGISTERED, wamid)
    step = await current_step(tracker_of, wa_id)
    if step is None:
        return _skipped(described, NOT_NEEDED, wamid)
    now = now or utcnow()
    used = await asyncio.to_thread(media_log.bytes_since, wa_id, now - QUOTA_WINDOW, wamid)
    left = config.media_quota_bytes - used
    reason = refusal_before(kind, step, None, config.media_max_bytes, left)
    if reason is not None:
        return _refused(described, reason, step, config, wamid)
    try:
        fetched = await download(graph, described["media_id"], config.media_dir, config.media_max_bytes, left)
    except _Refused as refusal:
        return _refused(described, refusal.reason, step, config, wamid)
    except GraphError as exc:
        logger.warning("whatsapp.media.failed wamid=%s code=%s", wamid, exc.code)
        return {**described, "reason": FAILED}
    await asyncio.to_thread(media_log.record_download, wamid, wa_id, described["media_id"],
                            str(fetched.path), fetched.size, now)
    logger.info("whatsapp.media.saved wamid=%s bytes=%s", wamid, fetched.size)
    return {**described, "mime_type": fetched.mime_type or described["mime_type"], "path": str(fetched.path),
            "downloaded": True, "bytes": fetched.size}


async def current_step(tracker_of: TrackerOf, wa_id: str) -> Optional[MediaStep]:
    """Return the media step the sender's conversation is at (before this message), or None."""
    tracker = await tracker_of(wa_id)
    if tracker is None:
        return None
    return step_for(tracker.active_loop_name, tracker.get_slot("requested_slot"))


class _Refused(Exception):
    """The file is refused (reason from media.py) before or while it downloads."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def download(graph: GraphClient, media_id: str, media_dir: Path, max_bytes: int, left: int) -> Fetched:
    """Look the id up, refuse it by its announced size, else stream it to disk within the limits."""
    info = await graph.media_info(media_id)
    reason = None if info.file_size is None else over_limit(info.file_size, max_bytes, left)
    if reason is not None:
        raise _Refused(reason)
    try:
        return await stream_to_file(graph, info.url, media_dir, media_id, info.mime_type,
                                    stream_limit(max_bytes, left))
    except TooLarge as exc:
        raise _Refused(over_limit(exc.size, max_bytes, left) or TOO_LARGE) from None


async def stream_to_file(graph: GraphClient, url: str, media_dir: Path, media_id: str, mime_hint: str,
                         limit: int) -> Fetched:
    """Stream a media URL into the media dir, stopping (TooLarge) past limit bytes."""
    async with graph.open_media(url) as response:
        length = response.content_length
        if length is not None and length > limit:
            raise TooLarge(length)
        mime = (response.headers.get("Content-Type") or mime_hint or "application/octet-stream")
        mime = mime.split(";")[0].strip()
        path = media_path(media_dir, media_id, mime)
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}{PART_SUFFIX}")
        handle = await asyncio.to_thread(_open_partial, partial)
        try:
            size = await _copy(response.content.iter_chunked(CHUNK_BYTES), handle, limit)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, partial, path)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(_discard, handle, partial))
            raise
    return Fetched(path, mime, size)


async def _copy(chunks: Any, handle: BinaryIO, limit: int) -> int:
    """Write chunks to handle, WRITE_BYTES at a time; return the size or raise TooLarge past limit."""
    size = 0
    pending = bytearray()
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(size)
        pending += chunk
        if len(pending) >= WRITE_BYTES:
            await asyncio.to_thread(handle.write, pending)  # awaited: the buffer is not touched meanwhile
            pending.clear()
    if pending:
        await asyncio.to_thread(handle.write, pending)
    return size


def _open_partial(partial: Path) -> BinaryIO:
    """Create the media dir if needed and open a new part file."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    return partial.open("xb")


def _discard(handle: BinaryIO, partial: Path) -> None:
    """Close and remove an unfinished part file."""
    handle.close()
    partial.unlink(missing_ok=True)


def _skipped(described: dict[str, Any], reason: str, wamid: str) -> dict[str, Any]:
    """Describe a file that is not downloaded because nothing needs it."""
    logger.debug("whatsapp.media.skipped wamid=%s reason=%s", wamid, reason)
    return {**described, "reason": reason}


def _refused(described: dict[str, Any], reason: str, step: MediaStep, config: WhatsAppConfig,
             wamid: str) -> dict[str, Any]:
    """Describe a refused file with the answer the form gives before asking again."""
    logger.info("whatsapp.media.refused wamid=%s reason=%s", wamid, reason)
    notice = refusal_text(reason, step, config.media_max_bytes, config.media_quota_bytes)
    return {**described, "reason": reason, "refused": reason, "notice": notice}
