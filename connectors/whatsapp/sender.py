"""Send the outbox to Graph: per recipient in order, one at a time, paced, retried with backoff.

A turn's replies reach the sender in memory, already claimed in the transaction that recorded the
turn (store.finish_turn); other rows are announced by recipient once committed (outbox.subscribe),
and the sender claims a recipient's due rows in one transaction. It sends them one after another
and records the wamids Meta returned in one transaction. A row is claimed with a lease before the call.
Each send carries `biz_opaque_callback_data = outbox:<id>`, so if the process dies between Meta
accepting a message and us storing its wamid, the status webhook that follows marks the row sent
and it is not sent again. An expired access token (190) holds every row in the queue, with one
alarm line a minute, until a send works again.

A body marked for upload (an order document, render.UPLOAD_KEY) is uploaded to /media first and the
row's body is replaced by one carrying the media id before the message is sent, so a retried send
reuses the id: one upload, one message. Only a crash between Meta's answer to the upload and that
update can cost a second upload (an unused media id; Meta deletes it after 30 days), never a second
message.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import timedelta
from typing import Any, Optional

import aiohttp

from database.clock import utcnow
from connectors.whatsapp import outbox
from connectors.whatsapp.documents import DocumentUnavailable, read_upload
from connectors.whatsapp.background import STOP_GRACE_SECONDS, KeyedWork, Leases
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.errors import (AuthError, GraphError, NetworkError, PairRateLimitError, ReEngagementRequired,
                                        RetryableError, ThrottledError, TokenExpired)
from connectors.whatsapp.graph import GraphClient
from connectors.whatsapp.outbox import CLAIM_BATCH, TEMPLATE_KIND, TEMPLATE_SEQ, UNCERTAIN_GRACE, OutboxItem, OutboxView
from connectors.whatsapp.pacing import Pacer, make_pacer
from connectors.whatsapp.render import UPLOAD_KEY, render_response, with_media_id
from connectors.whatsapp.store import CALLBACK_PREFIX, SERVICE_WINDOW, WINDOW_CLOSED

__all__ = ["MAX_ATTEMPTS", "TEMPLATE_SEQ", "WINDOW_CLOSED", "OutboxSender", "Pacer", "backoff",
           "reengagement_payload"]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 60.0
TOKEN_HOLD_FIRST_SECONDS = 1.0  # then doubling up to TOKEN_HOLD_MAX_SECONDS while 190 lasts
TOKEN_HOLD_MAX_SECONDS = 60.0
ALARM_EVERY_SECONDS = 60.0
OPT_KINDS = frozenset({"opt_out", "opt_in"})  # the STOP/START confirmations reach opted-out users


def backoff(attempt: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Return the delay before retry number attempt: exponential, capped, with equal jitter."""
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


def may_have_arrived(exc: GraphError) -> bool:
    """Return True if Meta may have acted on a call that failed: no answer came, though the
    connection was made (a refused or unresolvable connection cannot have sent anything)."""
    return isinstance(exc, NetworkError) and not isinstance(exc.__cause__, aiohttp.ClientConnectorError)


def reengagement_payload(config: WhatsAppConfig, wa_id: str) -> Optional[dict[str, Any]]:
    """Return the /messages body of the configured re-engagement template for wa_id, or None."""
    if not config.reengagement_template:
        return None
    template = {"type": "template", "template": {"name": config.reengagement_template,
                                                 "language": {"code": config.reengagement_language}}}
    [payload] = render_response(wa_id, {"custom": template}).payloads
    return payload


class OutboxSender(KeyedWork):
    """Drain each recipient's outbox rows to Graph, oldest first."""

    name = "out"

    def __init__(self, config: WhatsAppConfig, graph: GraphClient, leases: Leases, **kwargs: Any) -> None:
        super().__init__(leases, **kwargs)
        self.config = config
        self.graph = graph
        self.pacer = make_pacer(config)
        self.token_hold_first = TOKEN_HOLD_FIRST_SECONDS
        self._token_failures = 0  # consecutive 190s; 0 once a send works
        self._last_alarm = float("-inf")

    async def find_work(self) -> list[str]:
        """Return recipients whose oldest open row is due."""
        return await asyncio.to_thread(outbox.recipients_with_work)

    async def drain(self, wa_id: str) -> None:
        """Send this recipient's due rows in order; stop at the first one that must wait."""
        owner = self.leases.owner
        while not self.stopping:
            rows = self.take_handed(wa_id)  # claimed with the turn's outcome
            if not rows:
                rows = await asyncio.to_thread(outbox.claim_due_outbox, wa_id, owner, self.leases.ttl)
            if not rows:
                return
            self.leases.outbox.update(row.id for row in rows)
            sent: list[tuple[int, str]] = []
            tried = 0
            go_on = True
            try:
                for row in rows:
                    if not go_on or self.stopping:
                        break
                    tried += 1
                    go_on = await self._send(row, sent)
            finally:
                untried = [row.id for row in rows[tried:]]
                try:
                    await asyncio.to_thread(outbox.mark_sent_many, sent, owner)
                finally:
                    try:  # even when the mark failed: rows never tried go back at once, not after the lease
                        if untried:
                            await asyncio.to_thread(outbox.release_claims, untried, owner)
                    finally:
                        self.leases.outbox.difference_update(row.id for row in rows)
            # A batch short of CLAIM_BATCH took every row sendable now; rows queued since were
            # announced (handed or notified) and drain this key again. No claim that finds nothing.
            if not go_on or len(rows) < CLAIM_BATCH:
                return

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop like KeyedWork, then put rows handed over but never tried back in the queue."""
        await super().stop(grace)
        handed = [row.id for key in list(self._handed) for row in self.take_handed(key)]
        if handed:
            await asyncio.to_thread(outbox.release_claims, handed, self.leases.owner)
            self.leases.outbox.difference_update(handed)

    async def _send(self, row: OutboxView, sent: list[tuple[int, str]]) -> bool:
        """Send one claimed row (adding it to sent, or recording why not); False if the recipient must wait."""
        owner = self.leases.owner
        if row.opted_out and row.kind not in OPT_KINDS:
            await asyncio.to_thread(outbox.mark_failed, row.id, owner, None, "opted_out")
            return True
        closed = row.last_inbound_at is not None and utcnow() - row.last_inbound_at > SERVICE_WINDOW
        if closed and row.kind != TEMPLATE_KIND:
            await self._reengage(row, None)
            return True
        await self.pacer.wait()
        body, uploading = row.payload, UPLOAD_KEY in row.payload
        try:
            if uploading:
                body = await self._upload(row)
                uploading = False
            wamid = await self.graph.send_message({**body, "biz_opaque_callback_data": f"{CALLBACK_PREFIX}{row.id}"})
        except DocumentUnavailable as exc:
            logger.warning("whatsapp.send.document_unavailable row=%s reason=%s", row.id, exc)
            await asyncio.to_thread(outbox.mark_failed, row.id, owner, None, "document_unavailable")
            return True
        except ReEngagementRequired as exc:
            await self._reengage(row, exc.code)
            return True
        except RetryableError as exc:
            return await self._retry(row, exc, uploading)
        except TokenExpired as exc:
            await self._hold_for_token(row, exc)
            return False
        except GraphError as exc:
            level = logging.ERROR if isinstance(exc, AuthError) else logging.WARNING  # config: alert
            logger.log(level, "whatsapp.send.failed row=%s code=%s details=%s", row.id, exc.code,
                       exc.loggable_details)
            await asyncio.to_thread(outbox.mark_failed, row.id, owner, exc.code, "permanent")
            return True
        if self._token_failures:
            logger.warning("whatsapp.send.token_ok held_rows_resume=true failures=%s", self._token_failures)
            self._token_failures = 0
            self._last_alarm = float("-inf")
        sent.append((row.id, wamid))
        logger.debug("whatsapp.send.sent row=%s wamid=%s", row.id, wamid)
        return True

    async def _upload(self, row: OutboxView) -> dict[str, Any]:
        """Upload the row's file, store the body with the media id on the row, and return that body."""
        upload = await asyncio.to_thread(read_upload, row.payload[UPLOAD_KEY])
        media_id = await self.graph.upload_media(upload.data, upload.mime_type, upload.filename)
        body = with_media_id(row.payload, media_id)
        await asyncio.to_thread(outbox.set_payload, row.id, self.leases.owner, body)
        logger.info("whatsapp.send.uploaded row=%s bytes=%s", row.id, len(upload.data))
        return body

    async def _retry(self, row: OutboxView, exc: RetryableError, uploading: bool = False) -> bool:
        """Schedule the row again (or give up after MAX_ATTEMPTS); the recipient waits meanwhile.

        A failed upload sent no message, so it never waits for a status webhook before its retry.
        """
        owner = self.leases.owner
        if row.attempts >= MAX_ATTEMPTS:
            logger.warning("whatsapp.send.gave_up row=%s code=%s", row.id, exc.code)
            await asyncio.to_thread(outbox.mark_failed, row.id, owner, exc.code, "max_attempts")
            return True
        if isinstance(exc, PairRateLimitError):
            delay = min(BACKOFF_CAP_SECONDS, 4.0 ** (row.attempts - 1))  # Meta: retry after 4^X s
        elif may_have_arrived(exc) and not uploading:
            # No answer (a timeout, a dropped connection): Meta may have sent it. Its status webhook
            # echoes outbox:<id> and marks the row sent within the grace; only without one is it resent.
            delay = max(backoff(row.attempts), UNCERTAIN_GRACE.total_seconds())
        else:
            delay = backoff(row.attempts)
        if isinstance(exc, ThrottledError):
            self.pacer.pause(delay)
        logger.info("whatsapp.send.retry row=%s code=%s attempt=%s delay=%.2f",
                    row.id, exc.code, row.attempts, delay)
        at = utcnow() + timedelta(seconds=delay)
        await asyncio.to_thread(outbox.retry_later, row.id, owner, at, exc.code, type(exc).__name__)
        self.notify_later(row.wa_id, delay)
        return False

    async def _hold_for_token(self, row: OutboxView, exc: TokenExpired) -> None:
        """Keep the row queued and hold every send while the token is refused; alarm once a minute."""
        self._token_failures += 1
        hold = min(TOKEN_HOLD_MAX_SECONDS, self.token_hold_first * 2 ** (self._token_failures - 1))
        self.pacer.pause(hold)
        now = time.monotonic()
        if now - self._last_alarm >= ALARM_EVERY_SECONDS:
            self._last_alarm = now
            logger.error("whatsapp.send.token_expired code=%s failures=%s hold=%.0fs action=renew "
                         "WHATSAPP_API_TOKEN; messages stay queued", exc.code, self._token_failures, hold)
        at = utcnow() + timedelta(seconds=hold)
        await asyncio.to_thread(outbox.retry_later, row.id, self.leases.owner, at, exc.code, "token_expired",
                                False)
        self.notify_later(row.wa_id, hold)

    async def _reengage(self, row: OutboxView, code: Optional[int]) -> None:
        """Record that the 24 h window is closed and queue the re-engagement template if there is one."""
        await asyncio.to_thread(outbox.mark_failed, row.id, self.leases.owner, code or WINDOW_CLOSED,
                                "window_closed")
        payload = reengagement_payload(self.config, row.wa_id) if row.kind != TEMPLATE_KIND else None
        if payload is None:
            template = "refused" if row.kind == TEMPLATE_KIND else "none"
            logger.warning("whatsapp.send.window_closed row=%s template=%s", row.id, template)
            return
        item = OutboxItem(row.wa_id, row.inbound_wamid, TEMPLATE_SEQ, TEMPLATE_KIND, payload)
        await asyncio.to_thread(outbox.enqueue, [item])  # the commit announces it (outbox.subscribe)
