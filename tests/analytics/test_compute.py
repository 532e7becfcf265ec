"""compute() over hand-written rows: the definitions that a scripted conversation cannot reach.

The channel's tables come from the real migrations in a SQLite file; the tracker store is Rasa's
`events` table with rows written the way SQLTrackerStore writes them.
"""
from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.engine import Engine

from connectors.management.analytics import compute, nearest_rank, tracker_events
from connectors.whatsapp.tables import inbound, outbox
from tests.connectors.whatsapp_support import migrate

T0 = datetime(2025, 11, 23, 12, 0, 0)  # naive UTC; 17:30 in Kolkata
_ids = itertools.count(1)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated business database with the channel's tables; days counted in Kolkata."""
    monkeypatch.setenv("ASSISTANT_TIMEZONE", "Asia/Kolkata")
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)  # the migrations read it
    migrate(url)
    built = create_engine(url, future=True)
    yield built
    built.dispose()


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """An empty tracker store: (its URL, an engine to write events with)."""
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    built = create_engine(url, future=True)
    tracker_events.metadata.create_all(built)
    yield url, built
    built.dispose()


def arrive(engine: Engine, wa_id: str, at: datetime, replies: tuple[Optional[float], ...] = (),
           state: str = "sent", status: Optional[str] = None) -> None:
    """Store an inbound message and its replies, sent the given seconds after it (None: not sent)."""
    wamid = f"wamid.in{next(_ids)}"
    with engine.begin() as db:
        db.execute(insert(inbound).values(
            wamid=wamid, wa_id=wa_id, phone_number_id="109876543210", kind="text", text="hi", meta={},
            timestamp=int(at.timestamp()), state="done", attempts=1, received_at=at))
        for seq, after in enumerate(replies, start=1):
            sent_at = None if after is None else at + timedelta(seconds=after)
            db.execute(insert(outbox).values(
                wa_id=wa_id, inbound_wamid=wamid, seq=seq, kind="reply", payload={}, attempts=1,
                state=state if after is not None else "queued", next_attempt_at=at, status_rank=0,
                created_at=at, sent_at=sent_at, delivery_status=status,
                graph_wamid=None if after is None else f"wamid.out{next(_ids)}"))


def event(tracker: tuple[str, Engine], sender: str, at: datetime, kind: str, name: Optional[str] = None,
          text: Optional[str] = None, msg_kind: str = "text") -> None:
    """Write one tracker event: a user message (name = intent), a bot message (name = response) or an action."""
    data: dict[str, Any] = {"event": kind, "timestamp": at.timestamp()}
    intent = action = None
    if kind == "user":
        intent = name
        data.update(text=text, parse_data={"intent": {"name": name}, "text": text},
                    metadata={"kind": msg_kind})
    elif kind == "bot":
        data.update(text="…", metadata={"utter_action": name} if name else {})
    else:
        action = name
        data["name"] = name
    with tracker[1].begin() as db:
        db.execute(insert(tracker_events).values(
            sender_id=sender, type_name=kind, timestamp=(at - datetime(1970, 1, 1)).total_seconds(),
            intent_name=intent, action_name=action, data=json.dumps(data)))


def conversation(tracker: tuple[str, Engine], sender: str, steps: list[tuple[str, Any, Any]]) -> None:
    """Write a sender's events one second apart from T0."""
    for n, (kind, name, text) in enumerate(steps):
        event(tracker, sender, T0 + timedelta(seconds=n), kind, name, text)


def window(days: int = 1) -> tuple[datetime, datetime]:
    """Return a window around T0."""
    return T0 - timedelta(days=days), T0 + timedelta(days=days)


def test_latency_percentiles_are_nearest_rank_over_the_first_sent_reply(engine, tracker):
    """Ten answered messages give p50 0.5 s, p90 0.9 s and p99 1 s; unsent replies are no sample."""
    for n in range(1, 11):
        arrive(engine, "911", T0 + timedelta(minutes=n), replies=(n / 10, n / 10 + 5))
    arrive(engine, "911", T0, replies=(None,))
    result = compute(engine, *window(), tracker[0])
    assert result["latency_ms"] == {"samples": 10, "p50": 500.0, "p90": 900.0, "p99": 1000.0}
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and nearest_rank([7.0], 99) == 7.0


def test_days_are_local_and_every_day_of_the_window_is_listed(engine, tracker):
    """19:00 UTC is the next day in Kolkata; a two-day window lists both local days, empty or not."""
    arrive(engine, "911", datetime(2025, 11, 23, 19, 0), replies=(1.0,))
    arrive(engine, "912", datetime(2025, 11, 23, 17, 0), replies=(1.0, 2.0))
    result = compute(engine, datetime(2025, 11, 21, 18, 30), datetime(2025, 11, 23, 18, 30), tracker[0])
    assert result["messages"]["per_day"] == [
        {"day": "2025-11-22", "in": 0, "out": 0, "active_users": 0},
        {"day": "2025-11-23", "in": 1, "out": 2, "active_users": 1},
    ]
    later = compute(engine, datetime(2025, 11, 23, 18, 30), datetime(2025, 11, 24, 18, 30), tracker[0])
    assert later["messages"]["per_day"] == [{"day": "2025-11-24", "in": 1, "out": 1, "active_users": 1}]
    assert later["window"] == {"since": "2025-11-23T18:30:00Z", "until": "2025-11-24T18:30:00Z",
                               "timezone": "Asia/Kolkata"}


def test_delivery_counts_the_furthest_status_or_what_we_know(engine, tracker):
    """Reported statuses win; otherwise a reply is accepted, queued or failed by its outbox state."""
    arrive(engine, "911", T0, replies=(1.0, 2.0), status="read")
    arrive(engine, "911", T0, replies=(1.0,))
    arrive(engine, "911", T0, replies=(None,))
    arrive(engine, "912", T0, replies=(1.0,), state="failed")
    assert compute(engine, *window(), tracker[0])["delivery"] == {"accepted": 1, "failed": 1, "queued": 1,
                                                                  "read": 2}


def test_a_fallback_turn_is_counted_once_whatever_caused_it(engine, tracker):
    """NLU fallback, a core fallback, and both in one turn are three fallback turns out of four."""
    conversation(tracker, "911", [
        ("user", "nlu_fallback", "qwzx"), ("action", "utter_default", None),
        ("user", "track_order", "where is it"), ("action", "action_default_fallback", None),
        ("user", "nlu_fallback", "zzz"), ("action", "action_default_fallback", None),
        ("user", "greet", "hi"), ("action", "utter_main_menu", None),
    ])
    assert compute(engine, *window(), tracker[0])["fallback"] == {
        "turns": 3, "rate": 0.75, "nlu_fallback": 2, "action_default_fallback": 2}


def test_the_funnel_only_counts_steps_in_order(engine, tracker):
    """An answer before any sub-menu, or a sub-menu before the main menu, moves nobody down the funnel."""
    conversation(tracker, "answer-first", [
        ("action", "action_track_order", None), ("bot", "utter_main_menu", None),
        ("bot", "utter_orders_menu", None)])
    conversation(tracker, "submenu-first", [("bot", "utter_faq_menu", None), ("bot", "utter_main_menu", None)])
    conversation(tracker, "all-the-way", [
        ("bot", "utter_main_menu", None), ("bot", "utter_support_menu", None), ("action", "utter_faq", None)])
    conversation(tracker, "form", [
        ("bot", "utter_main_menu", None), ("bot", "utter_defects_menu", None),
        ("action", "action_cancel_form", None), ("action", "action_submit_defect", None)])
    assert compute(engine, *window(), tracker[0])["funnel"] == [
        {"step": "main_menu", "users": 4}, {"step": "sub_menu", "users": 3}, {"step": "answer", "users": 2}]


def test_typed_numbers_are_text_only_and_resolved_unless_choose_option(engine, tracker):
    """"2" resolved and "9" not are typed; a tap whose short id arrived as "3" is not typed."""
    event(tracker, "911", T0, "user", "track_order", "2")
    event(tracker, "911", T0 + timedelta(seconds=1), "user", "choose_option", "9")
    event(tracker, "911", T0 + timedelta(seconds=2), "user", "menu_faq", "3", msg_kind="list_reply")
    event(tracker, "911", T0 + timedelta(seconds=3), "user", "track_order", "where is ORD-10001")
    intents = compute(engine, *window(), tracker[0])["intents"]
    assert intents["numbers"] == {"typed": 2, "resolved": 1, "unresolved": 1}
    assert intents["counts"] == [{"intent": "track_order", "count": 2, "share": 0.5},
                                 {"intent": "choose_option", "count": 1, "share": 0.25},
                                 {"intent": "menu_faq", "count": 1, "share": 0.25}]


def test_events_outside_the_window_are_left_out(engine, tracker):
    """A handoff the day before the window and one after it are not counted; one inside is."""
    for at in (T0 - timedelta(days=2), T0, T0 + timedelta(days=2)):
        event(tracker, "911", at, "action", "action_request_handoff")
    assert compute(engine, *window(), tracker[0])["handoffs"] == {"requests": 1, "users": 1}


def test_a_tracker_store_without_events_table_or_in_the_same_database_works(engine, tmp_path):
    """Before Rasa ever ran there are no turns; the tracker may share the business database."""
    arrive(engine, "911", T0, replies=(1.0,))
    fresh = compute(engine, *window(), f"sqlite:///{tmp_path / 'never-created.db'}")
    assert fresh["intents"]["user_turns"] == 0 and fresh["messages"]["in"] == 1
    tracker_events.metadata.create_all(engine)
    event(("", engine), "911", T0, "user", "greet", "hi")
    shared = compute(engine, *window(), str(engine.url))
    assert shared["intents"]["user_turns"] == 1


def test_an_empty_or_reversed_window_is_refused(engine, tracker):
    """until must come after since."""
    with pytest.raises(ValueError):
        compute(engine, T0, T0, tracker[0])
