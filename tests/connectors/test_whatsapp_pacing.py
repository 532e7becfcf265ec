"""Pacing: the settings that choose it, the per-process pacer, and the shared one when Redis is absent.

The shared pacer against a real Redis is tested in tests/production/test_pacing_redis.py.
"""
from __future__ import annotations

import asyncio
import logging
import secrets

import pytest

from connectors.whatsapp.config import ConfigError, WhatsAppConfig
from connectors.whatsapp.pacing import Pacer, RedisPacer, fallback_mps, make_pacer, pace_keys
from tests.harness import free_port

REQUIRED = {"WHATSAPP_PHONE_NUMBER_ID": "1098", "WHATSAPP_BUSINESS_ACCOUNT_ID": "1020",
            "WHATSAPP_API_TOKEN": "token-" + secrets.token_hex(8), "WHATSAPP_APP_SECRET": secrets.token_hex(8),
            "WHATSAPP_WEBHOOK_VERIFY_TOKEN": secrets.token_hex(8)}


def test_each_process_paces_itself_by_default():
    """Without WHATSAPP_PACING the pacer is the process's own, even when the lock store's Redis is configured."""
    config = WhatsAppConfig.from_env({**REQUIRED, "REDIS_HOST": "127.0.0.1"})
    assert config.pacing_redis is None and type(make_pacer(config)) is Pacer


def test_redis_pacing_uses_the_lock_stores_settings_and_hides_the_password():
    """WHATSAPP_PACING=redis reads REDIS_HOST, REDIS_PORT and REDIS_PASSWORD; repr shows no password."""
    password = secrets.token_hex(8)
    config = WhatsAppConfig.from_env({**REQUIRED, "WHATSAPP_PACING": "Redis", "REDIS_HOST": "10.0.0.5",
                                      "REDIS_PORT": "56379", "REDIS_PASSWORD": password})
    settings = config.pacing_redis
    assert (settings.host, settings.port, settings.password, settings.db) == ("10.0.0.5", 56379, password, 1)
    assert password not in repr(config)
    assert isinstance(make_pacer(config), RedisPacer)


def test_the_production_credentials_key_turns_redis_pacing_on():
    """`pacing: redis` in the channel's credentials block counts as WHATSAPP_PACING=redis."""
    config = WhatsAppConfig.from_env({**REQUIRED, "REDIS_HOST": "127.0.0.1"}, overrides={"pacing": "redis"})
    assert config.pacing_redis is not None and config.pacing_redis.port == 6379 and config.pacing_redis.password is None


@pytest.mark.parametrize(("extra", "named"), [
    ({"WHATSAPP_PACING": "redis"}, "REDIS_HOST"),
    ({"WHATSAPP_PACING": "redis", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "six"}, "REDIS_PORT"),
    ({"WHATSAPP_PACING": "cluster"}, "WHATSAPP_PACING"),
], ids=["no-host", "bad-port", "unknown-mode"])
def test_bad_pacing_settings_stop_start_up_with_their_name(extra, named):
    """A pacing setting that cannot work stops start-up with a message naming the variable."""
    with pytest.raises(ConfigError, match=named):
        WhatsAppConfig.from_env({**REQUIRED, **extra})


def test_keys_of_one_number_share_a_hash_slot_and_differ_between_numbers():
    """One number's keys carry one hash tag (one Redis Cluster slot); another number gets other keys."""
    keys = pace_keys("1098")
    assert len(set(keys)) == 3 and all("{1098}" in key for key in keys)
    assert not set(keys) & set(pace_keys("2077"))


@pytest.mark.parametrize(("pacers", "share"), [(0, 80.0), (1, 80.0), (2, 40.0), (4, 20.0)])
def test_without_redis_each_process_takes_an_equal_share(pacers, share):
    """While Redis is away a process sends at the limit divided by the processes last seen, or the limit."""
    assert fallback_mps(80.0, pacers) == share


@pytest.mark.asyncio
async def test_the_process_pacer_spaces_sends_and_holds_them_during_a_pause():
    """At 50 per second eleven sends span at least 0.2 s; after pause(0.3) the next waits it out."""
    pacer, loop = Pacer(50.0), asyncio.get_running_loop()
    began = loop.time()
    await asyncio.gather(*(pacer.wait() for _ in range(11)))
    assert loop.time() - began >= 0.19
    await asyncio.sleep(0.05)
    pacer.pause(0.3)
    paused = loop.time()
    await pacer.wait()
    assert loop.time() - paused >= 0.29


@pytest.mark.asyncio
async def test_with_redis_unreachable_sends_go_on_at_the_limit_and_it_is_said_once(caplog):
    """Redis down from the start: no error reaches the sender, sends keep the process's pace, one log line."""
    caplog.set_level(logging.INFO, logger="connectors.whatsapp.pacing")
    config = WhatsAppConfig.from_env({**REQUIRED, "WHATSAPP_PACING": "redis", "REDIS_HOST": "127.0.0.1",
                                      "REDIS_PORT": str(free_port()), "WHATSAPP_MAX_MPS": "40"})
    pacer, loop = make_pacer(config), asyncio.get_running_loop()
    try:
        began = loop.time()
        await asyncio.gather(*(pacer.wait() for _ in range(21)))
        took = loop.time() - began
        pacer.pause(0.2)
        paused = loop.time()
        await pacer.wait()
        assert loop.time() - paused >= 0.19  # the pause holds this process though it could not be shared
    finally:
        await pacer.close()
    assert 0.49 <= took < 1.5 and not pacer.shared
    lines = [r.getMessage() for r in caplog.records if "redis_unavailable" in r.getMessage()]
    assert len(lines) == 1 and "max_mps=40.0" in lines[0]
