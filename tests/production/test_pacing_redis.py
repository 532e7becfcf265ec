"""The shared pacer on a real Redis: two processes' pacers together keep one business number's limit.

Each pacer has its own client, as two `rasa run` processes would. The Redis is this module's own (a
redis-server on a free port of 127.0.0.1 with a generated password), so it can be stopped and started.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.whatsapp.config import RedisSettings
from connectors.whatsapp.pacing import Pacer, RedisPacer
from tests.harness import free_port

LIMIT = 20.0  # messages per second for the number; small, so a second shows the pace


class PrivateRedis:
    """A redis-server of this test's own on 127.0.0.1 that can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.settings = RedisSettings("127.0.0.1", free_port(), secrets.token_hex(16))
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Start it (no persistence, as the production set runs it) and wait for its answer."""
        config = self.workdir / "redis.conf"
        config.write_text(f"requirepass {self.settings.password}\n")  # not on the command line (ps)
        config.chmod(0o600)
        self.proc = subprocess.Popen(["redis-server", str(config), "--bind", "127.0.0.1", "--port",
                                      str(self.settings.port), "--save", "", "--appendonly", "no",
                                      "--dir", str(self.workdir)], stdout=subprocess.DEVNULL)
        for _ in range(100):
            ping = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.settings.port), "ping"],
                                  env={"REDISCLI_AUTH": self.settings.password}, capture_output=True, text=True)
            if "PONG" in ping.stdout:
                return
            assert self.proc.poll() is None, "redis-server exited"
            subprocess.run(["sleep", "0.05"])
        raise RuntimeError("redis-server did not answer")

    def stop(self) -> None:
        """Stop it and wait until it is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PrivateRedis]:
    """Run a private Redis for one test (scripts/services.sh installs redis-server if it is missing)."""
    if shutil.which("redis-server") is None:
        request.getfixturevalue("services")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def count_grants(pacers: list, seconds: float, callers: int = 8) -> list[float]:
    """Let `callers` senders per pacer wait for slots for `seconds`; return when each slot was given."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    given: list[float] = []

    async def sender(pacer) -> None:
        while True:
            await pacer.wait()
            given.append(loop.time() - began)

    tasks = [asyncio.create_task(sender(pacer)) for pacer in pacers for _ in range(callers)]
    await asyncio.sleep(seconds)
    for task in tasks:  # a slot reserved but not reached is simply unused
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return sorted(t for t in given if t < seconds)


def busiest_second(given: list[float]) -> int:
    """Return the most slots given within any one second."""
    return max((sum(1 for u in given if t <= u < t + 1.0) for t in given), default=0)


@pytest.mark.asyncio
async def test_two_processes_together_stay_within_the_numbers_limit(redis_server):
    """Two pacers sharing Redis give 20 slots a second between them, where two own pacers give 40."""
    alone = await count_grants([Pacer(LIMIT), Pacer(LIMIT)], 1.0)
    assert busiest_second(alone) >= 1.8 * LIMIT  # what two processes did before: twice Meta's limit

    first, second = (RedisPacer(redis_server.settings, "1098", LIMIT) for _ in range(2))
    try:
        given = await count_grants([first, second], 2.0)
    finally:
        await asyncio.gather(first.close(), second.close())
    assert busiest_second(given) <= LIMIT + 2  # a slot's sender may wake a few ms late
    assert 2 * LIMIT - 4 <= len(given) <= 2 * LIMIT + 2  # the limit is used, not halved
    assert first.pacers == second.pacers == 2


@pytest.mark.asyncio
async def test_a_pause_one_process_hits_holds_the_other(redis_server):
    """After one pacer is paused for 0.5 s (Meta answered 130429), the other one's next slot waits it out."""
    first, second = (RedisPacer(redis_server.settings, "1098", LIMIT) for _ in range(2))
    other = RedisPacer(redis_server.settings, "2077", LIMIT)  # another business number: not held
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(first.wait(), second.wait(), other.wait())
        first.pause(0.5)
        await asyncio.sleep(0.05)  # the pause reaches Redis
        began = loop.time()
        await other.wait()
        other_waited = loop.time() - began
        await second.wait()
        second_waited = loop.time() - began
    finally:
        await asyncio.gather(first.close(), second.close(), other.close())
    assert second_waited >= 0.4 and other_waited < 0.2


@pytest.mark.asyncio
async def test_without_redis_each_process_sends_its_share_and_goes_back_when_redis_returns(redis_server, caplog):
    """Redis stops: both pacers go on at half the limit each, saying so once; Redis starts: they share again."""
    caplog.set_level(logging.INFO, logger="connectors.whatsapp.pacing")
    first, second = (RedisPacer(redis_server.settings, "1098", LIMIT) for _ in range(2))
    try:
        for _ in range(2):  # each has seen both sending
            await asyncio.gather(first.wait(), second.wait())
        redis_server.stop()
        given = await count_grants([first, second], 1.0, callers=4)
        assert not first.shared and not second.shared
        assert busiest_second(given) <= LIMIT + 2

        redis_server.start()
        await asyncio.sleep(1.0)  # an absent Redis is tried again once a second
        await asyncio.gather(first.wait(), second.wait())
        assert first.shared and second.shared
    finally:
        await asyncio.gather(first.close(), second.close())
    messages = [r.getMessage() for r in caplog.records]
    away = [m for m in messages if "redis_unavailable" in m]
    assert len(away) == 2 and all("max_mps=10.0 pacers_seen=2" in m for m in away)  # one line per process
    assert sum("redis_back" in m for m in messages) == 2
    assert redis_server.settings.password not in caplog.text
