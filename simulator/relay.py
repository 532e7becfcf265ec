"""Meta's side of the webhook: POST signed deliveries to the assistant, and play delivery statuses.

`WebhookRelay` posts one delivery and reports the answer. `StatusTicker` plays the life of each
business message the stand-in accepted: "sent" after about 100 ms, "delivered" after about 300 ms,
"read" once the page has shown it; each status is retried (as Meta does) until the webhook says 200,
and the bubble's ticks follow only what was acknowledged.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import aiohttp

from simulator.chats import ChatBook
from simulator.deliveries import SIGNATURE_HEADER, Business, encode_delivery, sign, status_delivery

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)


@dataclass(frozen=True)
class Outcome:
    """How the webhook answered one delivery: its HTTP status (0 if unreachable) and body text."""

    status: int
    body: str

    @property
    def ok(self) -> bool:
        """Return True for 200, the only answer Meta counts as delivered."""
        return self.status == 200

    def describe(self) -> str:
        """Return a short sentence for the page's error bubble."""
        if self.status == 0:
            return f"The assistant's webhook could not be reached ({self.body})."
        return f"The assistant's webhook answered {self.status}: {self.body or '(empty)'}"


class WebhookRelay:
    """POST deliveries to the assistant's webhook, signed with the App Secret."""

    def __init__(self, url: str, app_secret: str, timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT) -> None:
        """Args:
            url: the channel's webhook, e.g. http://127.0.0.1:5005/webhooks/whatsapp/webhook.
            app_secret: WHATSAPP_APP_SECRET, the key of the X-Hub-Signature-256 HMAC.
            timeout: limits for each POST.
        """
        self.url = url
        self._app_secret = app_secret
        self._timeout = timeout
        self._session: Optional[aiohttp.ClientSession] = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """Return the HTTP session, created in the running loop on first use."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def post(self, delivery: dict[str, Any]) -> Outcome:
        """Encode, sign and POST one delivery; return how the webhook answered."""
        body = encode_delivery(delivery)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._app_secret, body),
                   "User-Agent": "facebookexternalua"}
        try:
            async with self.session.post(self.url, data=body, headers=headers) as response:
                text = await response.text(errors="replace")
                return Outcome(response.status, text.strip()[:300])
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return Outcome(0, type(exc).__name__)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class StatusTicker:
    """Post sent, delivered and read statuses for each accepted business message."""

    def __init__(self, relay: WebhookRelay, business: Business, chats: ChatBook, sent_after: float = 0.1,
                 delivered_after: float = 0.3, retry_cap: float = 10.0) -> None:
        self._relay = relay
        self._business = business
        self._chats = chats
        self._sent_after = sent_after
        self._delivered_after = delivered_after
        self._retry_cap = retry_cap
        self._displayed: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def track(self, wamid: str, recipient_id: str, callback_data: Optional[str] = None) -> None:
        """Start playing the statuses of one business message."""
        self._displayed[wamid] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._run(wamid, recipient_id, callback_data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def displayed(self, wamid: str) -> None:
        """The user's phone showed this message: it may now be reported read."""
        event = self._displayed.get(wamid)
        if event is not None:
            event.set()

    async def close(self) -> None:
        """Stop every pending status."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, wamid: str, recipient_id: str, callback_data: Optional[str]) -> None:
        """Post sent, then delivered, then (once displayed) read."""
        try:
            await asyncio.sleep(self._sent_after)
            await self._post_until_acked(wamid, "sent", recipient_id, callback_data)
            await asyncio.sleep(max(0.0, self._delivered_after - self._sent_after))
            await self._post_until_acked(wamid, "delivered", recipient_id, callback_data)
            await self._displayed[wamid].wait()
            await self._post_until_acked(wamid, "read", recipient_id, callback_data)
        finally:
            self._displayed.pop(wamid, None)

    async def _post_until_acked(self, wamid: str, status: str, recipient_id: str,
                                callback_data: Optional[str]) -> None:
        """Post one status, retrying with backoff until the webhook answers 200."""
        delay = 0.5
        while True:
            delivery = status_delivery(self._business, wamid, status, recipient_id, int(time.time()),
                                       callback_data)
            outcome = await self._relay.post(delivery)
            if outcome.ok:
                self._chats.advance(wamid, status)
                return
            logger.warning("simulator.status.rejected wamid=%s status=%s http=%s", wamid, status, outcome.status)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_cap)
