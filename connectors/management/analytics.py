"""Operator analytics: what customers ask, where they drop out, how fast and how well we answer.

`compute()` reads two databases with SQLAlchemy Core and returns one JSON-able dict:

- the channel's tables in the business database (`whatsapp_inbound`, `whatsapp_outbox`): messages in
  and out, active users, reply latency, delivery statuses;
- Rasa's SQL tracker store (its `events` table): intents, typed numbers, fallbacks, the menu funnel
  and handoff requests.

Definitions, all over the half-open window [since, until):

- *message in*: a `whatsapp_inbound` row received in the window (any kind, answered or not);
  *message out*: a `whatsapp_outbox` row Graph accepted (state `sent`) in the window.
- *day*: a calendar day in the assistant's timezone (ASSISTANT_TIMEZONE), like the answers users read.
- *active user*: a number that sent at least one message (per day, and over the window).
- *user turn*: a `user` event in the tracker. Its intent is the parse_data intent, so a typed "2"
  that the numbered-choice rewriter resolved counts as the intent of the option it picked; a number
  no menu offered stays `choose_option`. `numbers` counts typed numbers (text messages only, not taps
  on a short "opt:N" id) and how many of them resolved.
- *fallback turn*: a user turn whose intent is `nlu_fallback`, or after which the bot ran
  `action_default_fallback` before the next user turn; the rate is over all user turns.
- *funnel*: users who were shown the main menu; of those, users shown a sub-menu after it; of those,
  users who then got an answer (a leaf action of a menu, an FAQ answer or a submitted form).
- *reply latency*: from an inbound message's arrival to the first of its replies Graph accepted.
- *delivery*: outbox rows created in the window, by the furthest status Meta reported (`sent`,
  `delivered`, `read`, `played`, `failed`); without one: `accepted` (Graph took it, no status yet),
  `queued` (not sent yet) or `failed` (we gave up sending).
"""
from __future__ import annotations

import calendar
import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Iterable, Mapping, Optional, Sequence

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, func, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url

from database.clock import assistant_timezone, to_naive_utc
from components.choices import CHOICE_INTENT, parse_choice
from connectors.whatsapp.tables import inbound, outbox

MAIN_MENU = "utter_main_menu"
SUB_MENUS = frozenset({"utter_orders_menu", "utter_defects_menu", "utter_schedule_menu",
                       "utter_support_menu", "utter_faq_menu"})
# The leaves of the menus (domain.yml): what a user came for.
ANSWER_ACTIONS = frozenset({
    "action_show_recent_orders", "action_track_order", "action_delivery_estimate",
    "action_defect_history", "action_track_defect", "action_submit_defect",
    "action_schedule_today", "action_schedule_week", "action_production_status",
    "action_contact_support", "action_request_handoff", "action_submit_issue",
    "utter_faq",
})
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTION = "action_default_fallback"
HANDOFF_ACTION = "action_request_handoff"
TYPED_KINDS = frozenset({"text"})  # channel message kinds a person types (taps are not typed)
FUNNEL_STEPS = ("main_menu", "sub_menu", "answer")
PERCENTILES = (50, 90, 99)
MAX_FILLED_DAYS = 400  # longer windows list only the days that have messages

# Rasa's SQLTrackerStore table (rasa/core/tracker_store.py, SQLEvent), read-only here.
_tracker_metadata = MetaData()
tracker_events = Table(
    "events", _tracker_metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


def compute(engine: Engine, since: datetime, until: datetime, tracker_db_url: str) -> dict[str, Any]:
    """Return the analytics for [since, until) from the channel tables and the tracker store.

    Args:
        engine: the business database (DATABASE_URL), which holds the channel's tables.
        since: start of the window; naive datetimes are UTC.
        until: end of the window (excluded); naive datetimes are UTC.
        tracker_db_url: SQLAlchemy URL of Rasa's SQL tracker store (endpoints.yml `tracker_store`).
    """
    start, end = to_naive_utc(since), to_naive_utc(until)
    if end <= start:
        raise ValueError("until must be after since")
    zone = assistant_timezone()
    with engine.connect() as connection:
        traffic = _traffic(connection, start, end, zone)
        latency = _latency(connection, start, end)
        delivery = _delivery(connection, start, end)
    conversations = _conversations(engine, tracker_db_url, start, end)
    return {
        "window": {"since": _iso(start), "until": _iso(end), "timezone": str(zone)},
        "messages": {"in": traffic.messages_in, "out": traffic.messages_out, "per_day": traffic.per_day},
        "active_users": traffic.active_users,
        "intents": conversations.intents(),
        "fallback": conversations.fallback(),
        "funnel": conversations.funnel(),
        "handoffs": {"requests": conversations.handoffs, "users": len(conversations.handoff_users)},
        "latency_ms": latency,
        "delivery": delivery,
    }


# --- channel tables --------------------------------------------------------------------------


@dataclass
class _Traffic:
    """Messages and users of the window."""

    messages_in: int
    messages_out: int
    active_users: int
    per_day: list[dict[str, Any]]


def _traffic(connection: Connection, start: datetime, end: datetime, zone: tzinfo) -> _Traffic:
    """Count messages in and out and active users, per local day and in total."""
    i, o = inbound.c, outbox.c
    arrivals = connection.execute(
        select(i.received_at, i.wa_id).where(i.received_at >= start, i.received_at < end))
    days_in: Counter[date] = Counter()
    users_by_day: dict[date, set[str]] = {}
    users: set[str] = set()
    for received_at, wa_id in arrivals:
        day = _local_day(received_at, zone)
        days_in[day] += 1
        users_by_day.setdefault(day, set()).add(wa_id)
        users.add(wa_id)
    sends = connection.execute(
        select(o.sent_at).where(o.state == "sent", o.sent_at >= start, o.sent_at < end))
    days_out = Counter(_local_day(sent_at, zone) for (sent_at,) in sends)
    per_day = [{"day": day.isoformat(), "in": days_in[day], "out": days_out[day],
                "active_users": len(users_by_day.get(day, ()))}
               for day in _days(start, end, zone, set(days_in) | set(days_out))]
    return _Traffic(sum(days_in.values()), sum(days_out.values()), len(users), per_day)


def _latency(connection: Connection, start: datetime, end: datetime) -> dict[str, Any]:
    """Return reply latency percentiles in milliseconds (None without samples)."""
    i, o = inbound.c, outbox.c
    first_reply = func.min(o.sent_at)
    rows = connection.execute(
        select(i.received_at, first_reply)
        .join(outbox, o.inbound_wamid == i.wamid)
        .where(o.state == "sent", o.sent_at.is_not(None), i.received_at >= start, i.received_at < end)
        .group_by(i.id, i.received_at))
    samples = sorted(max(0.0, (_as_datetime(sent) - _as_datetime(received)).total_seconds() * 1000.0)
                     for received, sent in rows)
    figures: dict[str, Any] = {"samples": len(samples)}
    for p in PERCENTILES:
        figures[f"p{p}"] = round(nearest_rank(samples, p), 1) if samples else None
    return figures


def _delivery(connection: Connection, start: datetime, end: datetime) -> dict[str, int]:
    """Count outbox rows created in the window by their furthest delivery status."""
    o = outbox.c
    rows = connection.execute(
        select(o.state, o.delivery_status, func.count())
        .where(o.created_at >= start, o.created_at < end)
        .group_by(o.state, o.delivery_status))
    counts: Counter[str] = Counter()
    for state, delivery_status, count in rows:
        counts[delivery_status or _undelivered(state)] += count
    return dict(sorted(counts.items()))


def _undelivered(state: str) -> str:
    """Name an outbox row Meta has reported nothing about."""
    if state == "sent":
        return "accepted"
    return "failed" if state == "failed" else "queued"


# --- tracker store ---------------------------------------------------------------------------


@dataclass
class _Conversations:
    """Figures from the tracker, accumulated one sender at a time."""

    user_turns: int = 0
    intent_counts: Counter[str] = field(default_factory=Counter)
    typed_numbers: int = 0
    resolved_numbers: int = 0
    fallback_turns: int = 0
    nlu_fallbacks: int = 0
    default_fallbacks: int = 0
    funnel_users: list[int] = field(default_factory=lambda: [0] * len(FUNNEL_STEPS))
    handoffs: int = 0
    handoff_users: set[str] = field(default_factory=set)

    def add_sender(self, sender_id: str, events: Iterable[Mapping[str, Any]]) -> None:
        """Fold one sender's events (oldest first) into the figures."""
        step = 0  # funnel steps reached, in order
        in_turn = False  # a user turn of this window is under way
        turn_fell_back = False  # and it ended in a fallback
        for event in events:
            kind = event["type_name"]
            if kind == "user":
                self.fallback_turns += int(turn_fell_back)
                in_turn, turn_fell_back = True, False
                intent = event["intent_name"] or "(none)"
                self.user_turns += 1
                self.intent_counts[intent] += 1
                if intent == FALLBACK_INTENT:
                    self.nlu_fallbacks += 1
                    turn_fell_back = True
                data = _json(event["data"])
                if _typed_number(data):
                    self.typed_numbers += 1
                    self.resolved_numbers += int(intent != CHOICE_INTENT)
            elif kind == "bot":
                shown = (_json(event["data"]).get("metadata") or {}).get("utter_action")
                if (step == 0 and shown == MAIN_MENU) or (step == 1 and shown in SUB_MENUS):
                    step += 1
            elif kind == "action":
                action = event["action_name"]
                if action == FALLBACK_ACTION:
                    self.default_fallbacks += 1
                    turn_fell_back = in_turn
                elif action == HANDOFF_ACTION:
                    self.handoffs += 1
                    self.handoff_users.add(sender_id)
                if step == 2 and action in ANSWER_ACTIONS:
                    step = 3
        self.fallback_turns += int(turn_fell_back)
        for reached in range(step):
            self.funnel_users[reached] += 1

    def intents(self) -> dict[str, Any]:
        """Return intents by count with their share of user turns, and the typed numbers."""
        ranked = sorted(self.intent_counts.items(), key=lambda item: (-item[1], item[0]))
        return {
            "user_turns": self.user_turns,
            "counts": [{"intent": name, "count": count, "share": _share(count, self.user_turns)}
                       for name, count in ranked],
            "numbers": {"typed": self.typed_numbers, "resolved": self.resolved_numbers,
                        "unresolved": self.intent_counts[CHOICE_INTENT]},
        }

    def fallback(self) -> dict[str, Any]:
        """Return fallback turns, their share of user turns and both causes."""
        return {"turns": self.fallback_turns, "rate": _share(self.fallback_turns, self.user_turns),
                "nlu_fallback": self.nlu_fallbacks, "action_default_fallback": self.default_fallbacks}

    def funnel(self) -> list[dict[str, Any]]:
        """Return each funnel step with its users."""
        return [{"step": step, "users": users} for step, users in zip(FUNNEL_STEPS, self.funnel_users)]


def _conversations(engine: Engine, tracker_db_url: str, start: datetime, end: datetime) -> _Conversations:
    """Read the window's user, bot and action events one sender at a time."""
    figures = _Conversations()
    same_database = make_url(tracker_db_url) == engine.url
    tracker = engine if same_database else create_engine(tracker_db_url, future=True)
    try:
        with tracker.connect() as connection:
            if not inspect(connection).has_table(tracker_events.name):
                return figures  # Rasa has not created its store yet: no conversations
            e = tracker_events.c
            rows = connection.execution_options(stream_results=True).execute(
                select(e.sender_id, e.type_name, e.intent_name, e.action_name, e.data)
                .where(e.type_name.in_(("user", "bot", "action")),
                       e.timestamp >= _epoch(start), e.timestamp < _epoch(end))
                .order_by(e.sender_id, e.id))
            for sender_id, events in itertools.groupby(rows.mappings(), key=lambda row: row["sender_id"]):
                figures.add_sender(sender_id, events)
    finally:
        if not same_database:
            tracker.dispose()
    return figures


def _typed_number(data: Mapping[str, Any]) -> bool:
    """Tell whether a user event is a typed option number (not a tap)."""
    kind = (data.get("metadata") or {}).get("kind")
    return (kind is None or kind in TYPED_KINDS) and parse_choice(data.get("text") or "") is not None


# --- helpers ---------------------------------------------------------------------------------


def nearest_rank(ordered: Sequence[float], percentile: float) -> float:
    """Return the nearest-rank percentile of an ascending, non-empty sequence."""
    rank = max(1, math.ceil(percentile / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _share(count: int, total: int) -> float:
    """Return count / total rounded to 4 places (0.0 for an empty total)."""
    return round(count / total, 4) if total else 0.0


def _days(start: datetime, end: datetime, zone: tzinfo, seen: set[date]) -> list[date]:
    """Return every local day of the window, or only the days seen when the window is very long."""
    first, last = _local_day(start, zone), _local_day(end - timedelta(microseconds=1), zone)
    if (last - first).days >= MAX_FILLED_DAYS:
        return sorted(seen)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _local_day(moment: Any, zone: tzinfo) -> date:
    """Return the local calendar day of a naive UTC datetime."""
    utc = _as_datetime(moment)
    return datetime.fromtimestamp(_epoch(utc), zone).date()


def _as_datetime(value: Any) -> datetime:
    """Return a naive UTC datetime from a column value (drivers may hand back strings)."""
    return to_naive_utc(value) if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _epoch(moment: datetime) -> float:
    """Return Unix seconds of a naive UTC datetime."""
    return calendar.timegm(moment.timetuple()) + moment.microsecond / 1_000_000


def _iso(moment: datetime) -> str:
    """Return a naive UTC datetime as ISO 8601 with a Z."""
    return moment.isoformat(timespec="seconds") + "Z"


def _json(text: Optional[str]) -> dict[str, Any]:
    """Parse an event's data column; anything unreadable is an empty dict."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
