"""Plumbing for the channel's background work: keyed work queues, lease heartbeat, a loop thread.

Work is split per key (one sender, one recipient). Whoever commits new work names its keys
(`notify`, from any thread): the ingress writer after its durable commit, a turn's outcome after
its commit. A key is drained by one task at a time; the database decides which row is next and
keeps two processes off one key. The database is searched for work only at start-up and by a slow
recovery scan (rows of an instance that died, retries that came due, rows queued by another
process). Rasa's turns run on a LoopThread of their own, so their CPU-bound parts (NLU, policies,
tracker serialisation) never hold up the webhook's answer.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from typing import Any, Coroutine, Iterable, Optional, TypeVar

from connectors.whatsapp import store

logger = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=10)  # how long a crashed instance's work stays locked
RECOVERY_SECONDS = 2.0  # between two searches of the database for work nobody announced
STOP_GRACE_SECONDS = 10.0
T = TypeVar("T")


def new_owner() -> str:
    """Return an id for this process's leases, unique per start."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    """What this process holds; the heartbeat renews it all before the TTL runs out."""

    def __init__(self, owner: str, ttl: timedelta = LEASE_TTL) -> None:
        self.owner = owner
        self.ttl = ttl
        self.inbound: set[int] = set()
        self.outbox: set[int] = set()

    async def beat_forever(self) -> None:
        """Extend every held lease every third of the TTL."""
        while True:
            await asyncio.sleep(self.ttl.total_seconds() / 3)
            try:
                await asyncio.to_thread(store.extend_leases, self.owner, set(self.inbound),
                                        set(self.outbox), self.ttl)
            except Exception as exc:  # noqa: BLE001 - one missed beat is harmless; keep beating
                log_failure("whatsapp.lease.renew_failed", exc)


class KeyedWork:
    """Drain each announced key in its own task (up to concurrency at once); scan now and then."""

    name = "work"

    def __init__(self, leases: Leases, concurrency: int = 64, scan_seconds: float = RECOVERY_SECONDS) -> None:
        self.leases = leases
        self.concurrency = concurrency
        self.scan_seconds = scan_seconds
        self._event = asyncio.Event()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._lock = threading.Lock()  # guards _early and _loop against notify() from other threads
        self._early: list[tuple[list[str], Optional[list[Any]]]] = []  # announced before run() started
        self._handed: dict[str, list[Any]] = {}  # key -> work handed over in memory (see drain)
        self._waiting: dict[str, None] = {}  # keys to drain, in order of announcement
        self._active: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()  # announced while being drained: drain once more
        self.stopping = False

    def notify(self, keys: Iterable[str]) -> None:
        """Drain these keys soon (their work is committed); safe to call from any thread."""
        self._announce(list(keys), None)

    def hand(self, key: str, items: list[Any]) -> None:
        """Give key's drain items already claimed for this process (`take_handed`); safe from any thread."""
        self._announce([key], list(items))

    def take_handed(self, key: str) -> list[Any]:
        """Return (and forget) what was handed over for key."""
        return self._handed.pop(key, [])

    def _announce(self, keys: list[str], items: Optional[list[Any]]) -> None:
        """Queue keys (and items for the first) on the loop that runs this, from any thread."""
        if not keys:
            return
        with self._lock:
            loop = self._loop
            if loop is None:
                self._early.append((keys, items))
                return
        self._call_soon(loop, self._add, keys, items)

    def notify_later(self, key: str, seconds: float) -> None:
        """Drain key after seconds (a retry that comes due); call on the loop that runs this."""
        if self._loop is not None and not self.stopping:
            self._loop.call_later(seconds, self._add, [key])

    def _call_soon(self, loop: asyncio.AbstractEventLoop, callback: Any, *args: Any) -> None:
        """Run callback on loop: directly when already there, else thread-safely."""
        try:
            same_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            callback(*args)
        elif not loop.is_closed():
            try:
                loop.call_soon_threadsafe(callback, *args)
            except RuntimeError:  # closed meanwhile: the next start scans
                pass

    def _add(self, keys: Iterable[str], items: Optional[list[Any]] = None) -> None:
        """Queue keys for draining (on the loop), with items handed over for the first."""
        keys = list(keys)
        if items:
            self._handed.setdefault(keys[0], []).extend(items)
        for key in keys:
            if key in self._active:
                self._again.add(key)
            else:
                self._waiting[key] = None
        self._event.set()

    async def run(self) -> None:
        """Run until cancelled: start drains for announced keys, scan the database now and then."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._loop = loop
            early, self._early = self._early, []
        for keys, items in early:
            self._add(keys, items)
        next_scan = loop.time()
        while not self.stopping:
            self._event.clear()
            if loop.time() >= next_scan:
                next_scan = loop.time() + self.scan_seconds
                self._add(await self._find_work_logged())
            self._start_drains()
            try:
                await asyncio.wait_for(self._event.wait(), max(0.0, next_scan - loop.time()))
            except asyncio.TimeoutError:
                pass

    async def _find_work_logged(self) -> list[str]:
        """Return keys with work; a failed scan (database busy) is retried at the next one."""
        try:
            return await self.find_work()
        except Exception as exc:  # noqa: BLE001
            log_failure(f"whatsapp.{self.name}.scan_failed", exc)
            return []

    def _start_drains(self) -> None:
        """Drain waiting keys, oldest announcement first, up to the concurrency limit."""
        while self._waiting and len(self._active) < self.concurrency and not self.stopping:
            key = next(iter(self._waiting))
            del self._waiting[key]
            task = asyncio.create_task(self._drain_logged(key))
            self._active[key] = task
            task.add_done_callback(lambda _t, k=key: self._drained(k))

    def _drained(self, key: str) -> None:
        """Free the key's slot; drain it again if work was announced meanwhile."""
        self._active.pop(key, None)
        if key in self._again:
            self._again.discard(key)
            self._waiting[key] = None
        self._event.set()

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop taking work, let running drains finish for up to grace seconds, then cancel them."""
        self.stopping = True
        self._waiting.clear()
        tasks = list(self._active.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            await cancel_all(pending)

    async def find_work(self) -> list[str]:
        """Return keys that have work now (the recovery scan)."""
        raise NotImplementedError

    async def drain(self, key: str) -> None:
        """Do all current work for one key."""
        raise NotImplementedError

    async def _drain_logged(self, key: str) -> None:
        """Drain a key; log anything unexpected and carry on."""
        try:
            await self.drain(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad key must not stop the others
            log_failure(f"whatsapp.{self.name}.drain_failed", exc, logging.ERROR)


class LoopThread:
    """An asyncio loop in a daemon thread: run coroutines there, from the main loop."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def start(self) -> LoopThread:
        """Start the thread and its loop."""
        self._thread.start()
        return self

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule coro on the thread's loop; cancelling the future cancels the task."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run coro on the thread's loop and await its result from the calling loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Cancel what still runs there, stop the loop and wait for the thread."""
        if not self._thread.is_alive():
            return

        async def cancel_rest() -> None:
            await cancel_all(t for t in asyncio.all_tasks() if t is not asyncio.current_task())

        try:
            self.submit(cancel_rest()).result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)

    def _serve(self) -> None:
        """Run the loop until stop(), then close it."""
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()


_frozen = False


def freeze_heap_once() -> None:
    """Move everything alive now (the model, TensorFlow, Rasa) out of the garbage collector's scans.

    A full collection of `rasa run`'s heap holds the GIL for 300-400 ms, long enough for Meta's
    webhook to wait; afterwards only objects made since are scanned. Done once per process.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
        logger.debug("whatsapp.gc.frozen objects=%s", gc.get_freeze_count())


def log_failure(event: str, exc: BaseException, level: int = logging.WARNING, **fields: object) -> None:
    """Log a failure by event key, fields and exception type; the traceback only at DEBUG.

    Exception texts can quote SQL parameters or message text, so they never reach INFO and above.
    """
    extra = "".join(f" {key}={value}" for key, value in fields.items())
    logger.log(level, "%s%s error=%s", event, extra, type(exc).__name__)
    logger.debug("%s traceback", event, exc_info=exc)


async def cancel_all(tasks: Iterable[asyncio.Future]) -> None:
    """Cancel tasks and wait until they are gone."""
    tasks = [t for t in tasks if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
