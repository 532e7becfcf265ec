"""Save webhook deliveries from one writer thread, several per transaction when they arrive together.

The webhook awaits `IngressWriter.save` and answers 200 once the delivery is on disk. Deliveries
that arrive while a transaction is being committed wait for the next one and go in together, so
under a burst the disk is flushed once per batch instead of once per POST (group commit). A batch
that fails is retried one delivery at a time, so one bad delivery cannot make Meta resend others.
Right after the commit the writer names the senders with new messages (`on_saved`): that is how
the worker learns of them, without searching the database.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from sqlalchemy.exc import SQLAlchemyError

from connectors.whatsapp import store
from connectors.whatsapp.background import log_failure
from connectors.whatsapp.store import Reengage, SavedDelivery
from connectors.whatsapp.updates import Delivery

logger = logging.getLogger(__name__)

MAX_BATCH = 64
OnSaved = Callable[[Sequence[str]], None]  # the wa_ids with new messages, called from the writer thread


@dataclass
class _Pending:
    """One delivery waiting to be saved, and where to report the outcome."""

    body: bytes
    delivery: Delivery
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class IngressWriter:
    """A thread that saves queued deliveries in batches."""

    def __init__(self, phone_number_id: str, reengage: Optional[Reengage] = None,
                 max_batch: int = MAX_BATCH, on_saved: OnSaved = lambda _senders: None) -> None:
        self.phone_number_id = phone_number_id
        self.reengage = reengage
        self.on_saved = on_saved
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Optional[_Pending]] = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    async def save(self, body: bytes, delivery: Delivery) -> SavedDelivery:
        """Store one delivery durably; raise SQLAlchemyError if the database refused it."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Pending(body, delivery, future, loop))
        return await future

    def close(self, timeout: float = 10.0) -> None:
        """Save what is queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _ensure_started(self) -> None:
        """Start the writer thread on first use."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="whatsapp-ingress", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        """Take everything queued (up to max_batch), save it in one transaction, report, repeat."""
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._save(batch)
            if stop:
                return

    def _save(self, batch: list[_Pending]) -> None:
        """Save a batch; on failure save each alone so only the bad one fails."""
        try:
            results = store.save_deliveries([(p.body, p.delivery) for p in batch], self.phone_number_id,
                                            reengage=self.reengage)
        except Exception as exc:  # noqa: BLE001 - every waiting webhook must get an answer
            if len(batch) > 1:
                # Each alone costs a transaction (and a flush) per delivery: say so, it should be rare.
                log_failure("whatsapp.ingress.batch_failed", exc, logging.WARNING, size=len(batch))
                for pending in batch:
                    self._save([pending])
                return
            if not isinstance(exc, SQLAlchemyError):
                logger.error("whatsapp.ingress.failed error=%s", type(exc).__name__)
                logger.debug("whatsapp.ingress.failed traceback", exc_info=exc)
                exc = SQLAlchemyError(type(exc).__name__)  # answered 503: Meta delivers it again
            _report(batch[0], exception=exc)
            return
        senders = list(dict.fromkeys(wa_id for saved in results for wa_id in saved.senders))
        if senders:
            try:
                self.on_saved(senders)
            except Exception:  # noqa: BLE001 - the recovery scan finds them instead
                logger.debug("whatsapp.ingress.handoff_failed", exc_info=True)
        for pending, saved in zip(batch, results):
            _report(pending, result=saved)


def _report(pending: _Pending, result: Optional[SavedDelivery] = None,
            exception: Optional[BaseException] = None) -> None:
    """Resolve the webhook's future on its own loop."""

    def resolve() -> None:
        if pending.future.done():
            return  # the request was cancelled (client went away)
        if exception is not None:
            pending.future.set_exception(exception)
        else:
            pending.future.set_result(result)

    try:
        pending.loop.call_soon_threadsafe(resolve)
    except RuntimeError:  # the loop is closed: nobody waits any more
        logger.debug("whatsapp.ingress.loop_closed")
