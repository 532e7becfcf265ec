"""GET /analytics hands a checked window and the tracker store's URL to analytics.compute()."""
from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.tracker_store import AwaitableTrackerStore, FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain

from connectors.management.channel import tracker_db_url


@pytest.mark.parametrize(
    ("query", "detail"),
    [({"since": "last week"}, "since must be an ISO 8601 date or date-time"),
     ({"since": "2026-11-02", "until": "2026-11-01"}, "since must be before until"),
     ({"since": "2020-01-01", "until": "2026-01-01"}, "the window may span at most 400 days"),
     ({"until": ""}, "until must be an ISO 8601 date or date-time"),
     ({"until": "0001-01-01T00:00:00Z"}, "until is too early")],
    ids=["words", "reversed", "too_long", "blank", "too_early"],
)
@pytest.mark.asyncio
async def test_bad_windows_get_400(api, query, detail):
    """An unreadable, reversed, endless or impossible window is refused before any figure is computed."""
    assert await api.call("GET", "/analytics", params=query) == (400, {"error": "invalid_date", "detail": detail})


@pytest.mark.asyncio
async def test_without_an_sql_tracker_store_analytics_is_unavailable(api):
    """Intents and funnels live in Rasa's SQL tracker store; without one the answer is 503, not a guess."""
    status, body = await api.call("GET", "/analytics")
    assert (status, body["error"]) == (503, "analytics_unavailable")


def test_the_tracker_url_is_found_behind_rasas_wrappers(tmp_path: Path):
    """Rasa wraps the SQL tracker store (fail-safe, awaitable); its database URL is still found."""
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "tracker.db"))

    class Agent:
        tracker_store = AwaitableTrackerStore(FailSafeTrackerStore(store))

    assert tracker_db_url(Agent()) == f"sqlite:///{tmp_path / 'tracker.db'}"
    assert tracker_db_url(None) is None
