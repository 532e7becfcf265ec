"""The pooled SQL tracker store keeps conversations as Rasa's SQL store does."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from rasa.core.tracker_store import AwaitableTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.utils.endpoints import read_endpoint_config

from connectors.tracker_store import PooledSQLTrackerStore

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.from_dict({"intents": ["greet"], "responses": {"utter_greet": [{"text": "Hello"}]}})


async def say_hi(store: PooledSQLTrackerStore, sender: str) -> None:
    """Record one greeting turn for sender."""
    tracker = await store.get_or_create_tracker(sender)
    tracker.update(UserUttered("hi", {"name": "greet", "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered("Hello"))
    tracker.update(ActionExecuted("action_listen"))
    await store.save(tracker)


def test_the_project_endpoints_load_the_pooled_store_not_rasas_in_memory_fallback(tmp_path: Path) -> None:
    """Rasa quietly falls back to an in-memory store (conversations lost on restart) if the type fails to load."""
    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "tracker_store")
    config.kwargs["db"] = str(tmp_path / "tracker.db")
    store = TrackerStore.create(config, DOMAIN)
    inner = store._tracker_store if isinstance(store, AwaitableTrackerStore) else store
    assert isinstance(inner, PooledSQLTrackerStore)


def test_conversations_saved_from_two_threads_are_all_there_after_a_restart(tmp_path: Path) -> None:
    """Sanic's loop and the WhatsApp turns' thread save at once; a new store on the same file reads both."""
    db = str(tmp_path / "tracker.db")
    store = PooledSQLTrackerStore(DOMAIN, dialect="sqlite", db=db)
    errors: list[BaseException] = []

    def turns(prefix: str) -> None:
        try:
            asyncio.run(_many(store, prefix))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=turns, args=(p,)) for p in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    store.engine.dispose()

    again = PooledSQLTrackerStore(DOMAIN, dialect="sqlite", db=db)
    for sender in ("a0", "a19", "b0", "b19"):
        tracker = asyncio.run(again.retrieve(sender))
        assert tracker is not None
        assert [e.text for e in tracker.events if isinstance(e, BotUttered)] == ["Hello"]


async def _many(store: PooledSQLTrackerStore, prefix: str) -> None:
    for n in range(20):
        await say_hi(store, f"{prefix}{n}")


@pytest.mark.parametrize("db", [":memory:"])
def test_an_in_memory_sqlite_store_keeps_rasas_engine(db: str) -> None:
    """Only a SQLite file gets the pool: an in-memory database lives in its one connection."""
    store = PooledSQLTrackerStore(DOMAIN, dialect="sqlite", db=db)
    asyncio.run(say_hi(store, "x"))
    assert asyncio.run(store.retrieve("x")) is not None
