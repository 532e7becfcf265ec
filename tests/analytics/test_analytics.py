"""Analytics figures over a scripted set of WhatsApp conversations with the real assistant.

Four people talk to the real Rasa and action server over the WhatsApp channel (signed webhooks, the
fake Graph API playing Meta). Every figure asserted below is counted by hand from SCRIPT.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Iterator

import pytest
from sqlalchemy import create_engine, select

from database.clock import assistant_timezone, utcnow
from connectors.management.analytics import compute
from connectors.whatsapp.tables import outbox
from tests.connectors.whatsapp_support import button_reply, delivery, list_reply, status, text
from tests.e2e.whatsapp_fixtures import PHONE_NUMBER_ID, WhatsAppStack, body_text, whatsapp  # noqa: F401

ASHA, RAVI, PRIYA, NEHA = "919800000001", "919800000002", "919800000009", "919800000099"

# (who, what they send, how many messages the phone then receives). A user's first message also
# starts a session, whose greeting is one more message.
SCRIPT: list[tuple[str, tuple[str, ...], int]] = [
    # Asha: main menu -> Orders (tap) -> "2" (resolves to Track specific order) -> an id -> thanks.
    (ASHA, ("text", "hi"), 2),                                      # greeting, main menu
    (ASHA, ("list", "/menu_orders", "1. Check Order Status"), 1),   # orders menu
    (ASHA, ("text", "2"), 1),                                       # "Which order?"
    (ASHA, ("text", "ORD-10001"), 1),                               # its status (a bare id is inform)
    (ASHA, ("text", "thanks"), 1),                                  # you're welcome
    # Ravi: main menu -> "3" (Schedule) -> "7" (no such option) -> something unclear (fallback).
    (RAVI, ("text", "hi"), 2),                                      # greeting, main menu
    (RAVI, ("text", "3"), 1),                                       # schedule menu
    (RAVI, ("text", "7"), 2),                                       # "choose 1 to 4", the menu again
    (RAVI, ("text", "regarding material"), 1),                      # unsure: "did you mean ...?" with options
    # Priya (staff): free text straight to an answer, then asks for a person.
    (PRIYA, ("text", "what's being produced today"), 2),            # greeting, today's runs
    (PRIYA, ("text", "I want to talk to a person"), 1),             # someone will answer
    # Neha (not registered): main menu -> Support (tap) -> FAQs (tap) -> a topic (tap).
    (NEHA, ("text", "hi"), 2),                                      # greeting, main menu
    (NEHA, ("list", "/menu_support", "4. Get Help & Support"), 1),  # support menu
    (NEHA, ("list", "/menu_faq", "1. FAQs"), 1),                    # FAQ topics
    (NEHA, ("list", "What are your payment terms?", "1. Payment terms"), 1),  # the answer
]
MESSAGES_IN = 15
MESSAGES_OUT = sum(replies for _who, _step, replies in SCRIPT)  # = 20
INTENTS = {  # resolved intents of the 15 user turns
    "greet": 3, "track_order": 1, "inform": 1, "menu_orders": 1, "thank": 1, "menu_schedule": 1, "choose_option": 1,
    "nlu_fallback": 1, "schedule_today": 1, "human_handoff": 1, "menu_support": 1, "menu_faq": 1, "faq": 1,
}
# Statuses Meta reports on top of "sent" (the status pump's): by outbox row, oldest first.
EXTRA_STATUSES = ["delivered"] * 3 + ["read"] * 2 + ["failed"]


def send(whatsapp: WhatsAppStack, who: str, step: tuple[str, ...]) -> None:
    """Post one signed message from who: typed text or a tap on a list row or reply button."""
    kind, *values = step
    pair = {"text": lambda: text(who, values[0]), "list": lambda: list_reply(who, *values),
            "button": lambda: button_reply(who, *values)}[kind]()
    assert whatsapp.post(delivery(pair)) == (200, {"status": "ok"})


def settle(whatsapp: WhatsAppStack, timeout: float = 30.0) -> None:
    """Wait until every inbound message is answered and every reply is sent and has a status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = (whatsapp.rows("whatsapp_inbound", "state IN ('pending', 'processing')")
                + whatsapp.rows("whatsapp_outbox", "state <> 'sent' OR delivery_status IS NULL"))
        if not busy:
            return
        time.sleep(0.1)
    raise AssertionError("the channel did not settle")


@pytest.fixture(scope="module")
def played(whatsapp: WhatsAppStack) -> Iterator[dict[str, Any]]:  # noqa: F811 - the imported fixture
    """Play SCRIPT turn by turn, add delivery statuses, and return compute() over the whole run."""
    started = utcnow()
    received: dict[str, int] = {}
    for who, step, replies in SCRIPT:
        send(whatsapp, who, step)
        received[who] = received.get(who, 0) + replies
        got = whatsapp.graph.wait_for(who, received[who])
        assert len(got) == received[who], f"{who} after {step}: {[body_text(m) for m in got]}"
    for who, count in received.items():
        assert len(whatsapp.settled(who, count, quiet=0.0)) == count
    time.sleep(1.0)  # nothing more arrives
    assert {who: len(whatsapp.graph.sent_to(who)) for who in received} == received
    settle(whatsapp)

    engine = create_engine(whatsapp.stack.db_url, future=True)
    with engine.connect() as connection:
        wamids = connection.execute(select(outbox.c.graph_wamid, outbox.c.wa_id).order_by(outbox.c.id)).all()
    for (wamid, wa_id), state in zip(wamids, EXTRA_STATUSES):
        extra = {"errors": [{"code": 131026, "title": "Message undeliverable"}]} if state == "failed" else {}
        item = status(wamid, state, wa_id, **extra)
        assert whatsapp.post(delivery(statuses=(item,), phone_number_id=PHONE_NUMBER_ID))[0] == 200
    finished = utcnow()
    tracker_url = f"sqlite:///{whatsapp.stack.workdir / 'tracker.db'}"
    try:
        yield {"result": compute(engine, started - timedelta(seconds=1), finished + timedelta(seconds=1),
                                 tracker_url),
               "started": started, "finished": finished, "engine": engine, "tracker_url": tracker_url}
    finally:
        engine.dispose()


def test_messages_and_active_users_are_counted_per_day(played):
    """Fifteen messages in, twenty-one out, from four people, all on today's local date."""
    result = played["result"]
    assert (result["messages"]["in"], result["messages"]["out"], result["active_users"]) == (
        MESSAGES_IN, MESSAGES_OUT, 4)
    zone = assistant_timezone()
    days = {_local(played["started"], zone), _local(played["finished"], zone)}
    per_day = [day for day in result["messages"]["per_day"] if day["in"] or day["out"]]
    if len(days) == 1:  # not run across local midnight
        assert per_day == [{"day": days.pop(), "in": MESSAGES_IN, "out": MESSAGES_OUT, "active_users": 4}]
    assert sum(day["in"] for day in per_day) == MESSAGES_IN


def test_intents_are_the_resolved_ones_with_their_share(played):
    """A resolved "2" counts as Track order, "7" stays choose_option, and shares are of 15 turns."""
    intents = played["result"]["intents"]
    assert intents["user_turns"] == 15
    assert {row["intent"]: row["count"] for row in intents["counts"]} == INTENTS
    assert all(row["share"] == round(row["count"] / 15, 4) for row in intents["counts"])
    assert intents["counts"][0] == {"intent": "greet", "count": 3, "share": 0.2}
    assert intents["numbers"] == {"typed": 3, "resolved": 2, "unresolved": 1}


def test_fallbacks_are_one_turn_in_fifteen(played):
    """Ravi's unclear message is the only fallback: one NLU fallback, no core fallback, a rate of 1/15."""
    assert played["result"]["fallback"] == {"turns": 1, "rate": 0.0667, "nlu_fallback": 1,
                                            "action_default_fallback": 0}


def test_funnel_counts_users_who_went_menu_then_submenu_then_answer(played):
    """Three people saw the main menu and a sub-menu; Asha and Neha got an answer; Priya skipped menus."""
    assert played["result"]["funnel"] == [{"step": "main_menu", "users": 3}, {"step": "sub_menu", "users": 3},
                                          {"step": "answer", "users": 2}]


def test_handoffs_count_requests_for_a_person(played):
    """Priya's request for a person is the one handoff."""
    assert played["result"]["handoffs"] == {"requests": 1, "users": 1}


def test_reply_latency_has_one_sample_per_answered_message(played):
    """Every inbound message was answered, so there are fifteen ordered, positive latencies."""
    latency = played["result"]["latency_ms"]
    assert latency["samples"] == MESSAGES_IN
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] < 30_000


def test_delivery_statuses_are_the_furthest_reported(played):
    """Three replies delivered, two read, one failed, and the other fifteen only sent."""
    assert played["result"]["delivery"] == {"delivered": 3, "failed": 1, "read": 2,
                                            "sent": MESSAGES_OUT - 6}


def test_a_window_before_the_conversations_is_empty(played):
    """An hour that ended before the first message has no messages, turns, users or samples."""
    end = played["started"] - timedelta(seconds=5)
    empty = compute(played["engine"], end - timedelta(hours=1), end, played["tracker_url"])
    assert (empty["messages"]["in"], empty["messages"]["out"], empty["active_users"]) == (0, 0, 0)
    assert empty["intents"] == {"user_turns": 0, "counts": [],
                                "numbers": {"typed": 0, "resolved": 0, "unresolved": 0}}
    assert empty["fallback"]["rate"] == 0.0 and empty["latency_ms"] == {"samples": 0, "p50": None,
                                                                        "p90": None, "p99": None}
    assert [step["users"] for step in empty["funnel"]] == [0, 0, 0] and empty["delivery"] == {}


def _local(moment: datetime, zone: tzinfo) -> str:
    """Return the local ISO date of a naive UTC datetime."""
    return moment.replace(tzinfo=timezone.utc).astimezone(zone).date().isoformat()
