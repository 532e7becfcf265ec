"""Pace sends to Meta's throughput limit per business number, and hold them all while Meta says slow down.

Meta counts messages per business phone number (80 per second by default; over it, 130429), however many
processes send for it. `Pacer` paces one process: right for the embedded default, a single `rasa run`.
`RedisPacer` (WHATSAPP_PACING=redis, the production configuration) keeps one schedule per business
number in Redis, shared by every process: each send reserves the next free slot in one Lua script
(GCRA with no burst: slots 1/max_mps apart, on Redis's clock), and a pause (130429, 131057, an expired
token) is a key with an expiry that every process's script honours. If Redis cannot be reached the
process keeps sending on its own pacer at max_mps divided by the processes Redis last saw sending, says
so once, and goes back to Redis once it answers again.
"""
from __future__ import annotations

import asyncio
import logging
import math
import uuid
from typing import Optional, Union

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from connectors.whatsapp.config import RedisSettings, WhatsAppConfig

__all__ = ["Pacer", "RedisPacer", "fallback_mps", "make_pacer", "pace_keys"]

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 0.5  # a local or same-network Redis answers in about a millisecond
RETRY_REDIS_SECONDS = 1.0  # while Redis is away, one send a second tries it again
REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError)
SEEN_SECONDS = 60  # a process that reserved a slot this recently counts when the rate is divided

# KEYS: next free slot, pause, pacers seen; ARGV: interval (µs), this pacer's id, seen window (µs).
# Returns {1, µs until the reserved slot, pacers seen} or {0, µs the pause still lasts, pacers seen}.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local seen = tonumber(ARGV[3])
redis.call('ZADD', KEYS[3], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - seen)
redis.call('PEXPIRE', KEYS[3], math.ceil(seen / 1000))
local pacers = redis.call('ZCARD', KEYS[3])
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then
  return {0, paused * 1000, pacers}
end
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local after = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.ceil((after - now) / 1000) + 1000)
return {1, slot - now, pacers}
"""

# KEYS: pause; ARGV: milliseconds. A pause only ever grows.
PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


def pace_keys(phone_number_id: str) -> tuple[str, str, str]:
    """Return the Redis keys of one business number: next slot, pause, pacers seen (one hash slot)."""
    base = f"whatsapp:pace:{{{phone_number_id}}}"
    return f"{base}:next", f"{base}:pause", f"{base}:pacers"


def fallback_mps(max_mps: float, pacers: int) -> float:
    """Return this process's share of max_mps while Redis is away: an equal part among the pacers seen."""
    return max_mps / max(pacers, 1)


class Pacer:
    """Keep sends of this process under max_mps, and hold them all while Meta says slow down."""

    def __init__(self, max_mps: float) -> None:
        self.interval = 1.0 / max_mps
        self._next = 0.0
        self._paused_until = 0.0

    async def wait(self) -> None:
        """Return when the next send may go out."""
        await self.held()
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + self.interval  # taken before sleeping, so concurrent senders queue up
        if slot > now:
            await asyncio.sleep(slot - now)

    async def held(self) -> None:
        """Return once no pause holds sends."""
        loop = asyncio.get_running_loop()
        while loop.time() < self._paused_until:
            await asyncio.sleep(self._paused_until - loop.time())

    def pause(self, seconds: float) -> None:
        """Hold every send for seconds (throughput limit hit, token expired)."""
        self._paused_until = max(self._paused_until, asyncio.get_running_loop().time() + seconds)

    async def close(self) -> None:
        """Release nothing: this pacer holds no connection."""


class RedisPacer:
    """Keep the sends of every process for one business number under max_mps together, through Redis."""

    def __init__(self, settings: RedisSettings, phone_number_id: str, max_mps: float) -> None:
        self.max_mps = max_mps
        self.interval_us = max(1, round(1_000_000 / max_mps))
        self.keys = pace_keys(phone_number_id)
        self.pacer_id = uuid.uuid4().hex[:12]
        self.local = Pacer(max_mps)  # this process's pauses, and its pace while Redis is away
        self.pacers = 1  # processes Redis saw sending within SEEN_SECONDS, as last read
        self.redis = aioredis.Redis(host=settings.host, port=settings.port, password=settings.password,
                                    db=settings.db, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                                    # once more on a fresh connection: a restarted Redis drops the pooled ones
                                    retry=Retry(NoBackoff(), 1), retry_on_error=[RedisConnectionError])
        self._reserve = self.redis.register_script(RESERVE)
        self._pause = self.redis.register_script(PAUSE)
        self._away_since: Optional[float] = None  # loop time Redis stopped answering; None while it answers
        self._retry_at = 0.0
        self._writes: set[asyncio.Task] = set()

    @property
    def shared(self) -> bool:
        """Return True while sends are paced through Redis, False while this process paces alone."""
        return self._away_since is None

    async def wait(self) -> None:
        """Return when the next send may go out: a slot reserved in Redis, or locally while Redis is away."""
        loop = asyncio.get_running_loop()
        while True:
            await self.local.held()
            if not self.shared and loop.time() < self._retry_at:
                return await self.local.wait()
            self._retry_at = loop.time() + RETRY_REDIS_SECONDS  # one caller at a time tries an absent Redis
            try:
                granted, delay_us, pacers = await self._reserve(
                    keys=list(self.keys), args=[self.interval_us, self.pacer_id, SEEN_SECONDS * 1_000_000])
            except REDIS_DOWN as exc:
                self._went_away(exc)
                return await self.local.wait()
            self._answered(int(pacers))
            if delay_us > 0:
                await asyncio.sleep(delay_us / 1_000_000)
            if granted:
                return

    def pause(self, seconds: float) -> None:
        """Hold every send of every process for seconds (this one at once, the others through Redis)."""
        self.local.pause(seconds)
        task = asyncio.get_running_loop().create_task(self._share_pause(seconds))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def close(self) -> None:
        """Let pending pause writes finish, then close the Redis connections."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self.redis.close(close_connection_pool=True)

    async def _share_pause(self, seconds: float) -> None:
        """Write the pause to Redis; if Redis is away the pause stays this process's own."""
        try:
            await self._pause(keys=[self.keys[1]], args=[max(1, math.ceil(seconds * 1000))])
        except REDIS_DOWN as exc:
            self._went_away(exc)

    def _went_away(self, exc: BaseException) -> None:
        """Pace alone at this process's share of the limit; say so once per outage."""
        if not self.shared:
            return
        loop = asyncio.get_running_loop()
        self._away_since = loop.time()
        self._retry_at = loop.time() + RETRY_REDIS_SECONDS
        mps = fallback_mps(self.max_mps, self.pacers)
        self.local.interval = 1.0 / mps
        logger.warning("whatsapp.pace.redis_unavailable error=%s pacing=process max_mps=%.1f pacers_seen=%s",
                       type(exc).__name__, mps, self.pacers)

    def _answered(self, pacers: int) -> None:
        """Note the pacers Redis saw; if Redis was away, say it is back."""
        self.pacers = max(pacers, 1)
        if self._away_since is not None:
            away = asyncio.get_running_loop().time() - self._away_since
            self._away_since = None
            logger.info("whatsapp.pace.redis_back pacing=redis away_seconds=%.1f", away)


def make_pacer(config: WhatsAppConfig) -> Union[Pacer, RedisPacer]:
    """Return the pacer the configuration asks for: shared through Redis, or this process's own."""
    if config.pacing_redis is not None:
        return RedisPacer(config.pacing_redis, config.phone_number_id, config.max_mps)
    return Pacer(config.max_mps)
