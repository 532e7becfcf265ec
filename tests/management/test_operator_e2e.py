"""Operators and customers over the real stack: handoff round trip and status notifications.

Rasa, the action server, the WhatsApp channel (signed webhooks, the Graph stand-in playing Meta)
and the management API all run for real; we look at what the customer's phone receives.
"""
from __future__ import annotations

import time
from typing import Iterator

import pytest

from connectors.management.handoff import RELEASE_NOTE
from tests.e2e.whatsapp_fixtures import body_text, titles
from tests.management.operator_stack import Operator, eventually, operator_stack

ASHA, RAVI = "919800000001", "919800000002"
SCAN_SECONDS = 1.0


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    """The whole stack with fast notification scans."""
    with operator_stack(tmp_path_factory.mktemp("operator"), {"NOTIFY_SCAN_SECONDS": str(SCAN_SECONDS)}) as running:
        yield running


def texts(operator: Operator, wa_id: str) -> list[str]:
    """Return what the customer's phone shows, message by message."""
    return [body_text(m) if m["type"] in ("text", "interactive") else m["type"]
            for m in operator.whatsapp.graph.sent_to(wa_id)]


def test_a_handoff_round_trip_keeps_the_bot_silent_until_released(operator):
    """Ravi asks for a person; the bot then stays silent while staff see, answer and release him."""
    whatsapp = operator.whatsapp
    whatsapp.say(RAVI, "hi")
    whatsapp.graph.wait_for(RAVI, 2)
    whatsapp.say(RAVI, "I want to talk to a person")
    promise = body_text(whatsapp.graph.wait_for(RAVI, 3)[-1])
    assert promise.startswith("👤 I've asked a colleague to take over this chat.")

    [waiting] = eventually(lambda: operator.call("GET", "/handoffs")[1]["handoffs"], what="handoff listed")
    assert waiting["wa_id"] == RAVI and waiting["name"] == "Ravi Kumar"

    whatsapp.say(RAVI, "my order ORD-10003 is late")
    whatsapp.say(RAVI, "menu")
    assert len(whatsapp.settled(RAVI, 3, quiet=3.0)) == 3  # the bot said nothing, not even to "menu"
    [waiting] = operator.call("GET", "/handoffs")[1]["handoffs"]
    assert waiting["messages_waiting"] == 2 and waiting["last_message"]["text"] == "menu"
    shown = operator.call("GET", f"/messages?wa_id={RAVI}&limit=2")[1]["messages"]
    assert [(m["direction"], m["text"], m["state"]) for m in shown] == [
        ("inbound", "menu", "done"), ("inbound", "my order ORD-10003 is late", "done")]

    assert operator.call("POST", f"/handoffs/{RAVI}/reply", {"text": "Hi Ravi, Meera here. Checking now."})[0] == 202
    assert body_text(whatsapp.graph.wait_for(RAVI, 4)[-1]) == "Hi Ravi, Meera here. Checking now."
    staff = eventually(lambda: [m for m in operator.call("GET", f"/messages?wa_id={RAVI}")[1]["messages"]
                                if m["from"] == "staff" and m["delivery_status"] == "sent"], what="staff reply sent")
    assert staff[0]["text"] == "Hi Ravi, Meera here. Checking now."

    assert operator.call("POST", f"/handoffs/{RAVI}/release")[0] == 200
    assert body_text(whatsapp.graph.wait_for(RAVI, 5)[-1]) == RELEASE_NOTE
    assert operator.call("GET", "/handoffs")[1] == {"handoffs": []}

    whatsapp.say(RAVI, "menu")
    menu = whatsapp.graph.wait_for(RAVI, 6)[-1]
    assert menu["type"] == "interactive" and titles(menu)[0] == "1. Check Order Status"
    assert len(whatsapp.settled(RAVI, 6, quiet=1.0)) == 6


def test_an_order_status_change_reaches_the_customer_exactly_once(operator):
    """Setting ORD-10002 to shipped in the database gives Asha one message, however many scans follow."""
    whatsapp = operator.whatsapp
    whatsapp.say(ASHA, "hi")  # opens her 24-hour window, so the news comes as free-form text
    before = len(whatsapp.settled(ASHA, 2, quiet=1.0))
    eventually(lambda: operator.sql("SELECT outcome FROM notifications WHERE ref = 'ORD-10002'"),
               what="baseline of ORD-10002")
    operator.sql("UPDATE orders SET status = 'shipped' WHERE ref = 'ORD-10002'")

    news = whatsapp.graph.wait_for(ASHA, before + 1)[-1]
    assert body_text(news) == "🚚 Update on your order *ORD-10002* (Polyester fabric roll): it is now *shipped*."
    time.sleep(3 * SCAN_SECONDS)  # at least two more scans
    assert [t for t in texts(operator, ASHA) if "ORD-10002" in t] == [body_text(news)]
    assert operator.sql("SELECT outcome FROM notifications WHERE ref = 'ORD-10002' ORDER BY id") == [
        ("baseline",), ("queued",)]


def test_health_over_the_real_stack(operator):
    """With Rasa, the model and the action server up, health is 200 and every check is ok."""
    status, body = operator.call("GET", "/health")
    assert status == 200 and body["status"] == "ok"
    assert all(check["ok"] for check in body["checks"].values())
