"""Customers talk to the real assistant over WhatsApp; we check what their phones receive."""
from __future__ import annotations

import json
import time

from tests.connectors.whatsapp_support import delivery, list_reply, signed, text
from tests.e2e.whatsapp_fixtures import body_text, titles, whatsapp  # noqa: F401

ASHA, RAVI, PRIYA = "919800000001", "919800000002", "919800000009"
# Row titles as the phone shows them: numbered, cut to Meta's 24 characters (the rest is the description).
MAIN_MENU = ["1. Check Order Status", "2. Report Defect", "3. View Production…",
             "4. Get Help & Support", "5. Back to Menu"]


def test_hi_then_tap_then_number_then_order_id_reaches_the_order_status(whatsapp):
    """Asha's "hi" gets the five-row main menu list; Orders, "2" and ORD-10001 then give its status."""
    whatsapp.say(ASHA, "hi")
    greeting, menu = whatsapp.graph.wait_for(ASHA, 2)
    assert "Asha" in body_text(greeting)
    assert menu["interactive"]["type"] == "list" and titles(menu) == MAIN_MENU

    assert whatsapp.post(delivery(list_reply(ASHA, "/menu_orders", "1. Check Order Status")))[0] == 200
    orders = whatsapp.graph.wait_for(ASHA, 3)[-1]
    assert "Orders" in body_text(orders) and titles(orders)[1] == "2. Track specific order"

    whatsapp.say(ASHA, "2")
    assert "Which order" in body_text(whatsapp.graph.wait_for(ASHA, 4)[-1])

    whatsapp.say(ASHA, "ORD-10001")
    status = body_text(whatsapp.graph.wait_for(ASHA, 5)[-1])
    assert "ORD-10001" in status and "shipped" in status.lower()
    assert len(whatsapp.settled(ASHA, 5, quiet=1.0)) == 5


def test_a_batch_from_three_users_gets_three_personal_answers(whatsapp):
    """One delivery carrying three users' messages answers each of them by name, once."""
    stranger = "919800000077"
    assert whatsapp.post(delivery(text(RAVI, "hi"), text(PRIYA, "hello"), text(stranger, "hi")))[0] == 200
    for user, name in ((RAVI, "Ravi"), (PRIYA, "Priya"), (stranger, "Hello")):
        received = whatsapp.settled(user, 2, quiet=0.5)
        assert len(received) == 2 and name in body_text(received[0])
        assert titles(received[1]) == MAIN_MENU


def test_bad_signatures_are_refused_and_nothing_is_sent(whatsapp):
    """Forged, missing and altered-body signatures get 401/403, store nothing and reach no phone."""
    user = "919800000078"
    raw, headers = signed(delivery(text(user, "hi")), whatsapp.app_secret)
    _, forged = signed(raw, "not-the-app-secret")
    before = whatsapp.rows("whatsapp_webhooks")
    assert whatsapp.post(raw, {"Content-Type": "application/json"}) == (401, {"error": "missing_signature"})
    assert whatsapp.post(raw, forged) == (403, {"error": "invalid_signature"})
    assert whatsapp.post(raw.replace(b'"hi"', b'"yo"'), headers) == (403, {"error": "invalid_signature"})
    time.sleep(1.0)
    assert whatsapp.graph.sent_to(user) == []
    assert whatsapp.rows("whatsapp_webhooks") == before
    assert whatsapp.rows("whatsapp_inbound", f"wa_id = '{user}'") == 0


def test_fifty_concurrent_copies_of_one_delivery_get_one_reply(whatsapp):
    """Meta retrying one delivery fifty times at once still yields a single answer."""
    user = "919800000079"
    raw = json.dumps(delivery(text(user, "hi"))).encode()
    statuses = list(whatsapp.pool.map(lambda _: whatsapp.post(raw)[0], range(50)))
    assert statuses == [200] * 50
    received = whatsapp.settled(user, 2, quiet=2.0)
    assert len(received) == 2 and titles(received[1]) == MAIN_MENU
    assert whatsapp.rows("whatsapp_inbound", f"wa_id = '{user}'") == 1


def test_thirty_percent_failed_sends_still_deliver_every_reply_once_in_order(whatsapp):
    """With Graph failing 30% of sends (5xx and 130429), each user gets each reply once, in order."""
    users = [f"91980000008{n}" for n in range(5)]
    whatsapp.graph.fake.fail_rate(0.3, seed=42)
    try:
        assert whatsapp.post(delivery(*(text(user, "hi") for user in users)))[0] == 200
        for user in users:
            whatsapp.graph.wait_for(user, 2, timeout=60)
        assert whatsapp.post(delivery(*(text(user, "1") for user in users)))[0] == 200
        for user in users:
            received = whatsapp.settled(user, 3, timeout=60, quiet=0.2)
            assert [m["type"] for m in received] == ["text", "interactive", "interactive"]
            assert titles(received[1]) == MAIN_MENU and "Orders" in body_text(received[2])
        failed = [r for r in whatsapp.graph.fake.requests if r.status not in (0, 200)]
        assert failed  # the failures really happened
    finally:
        whatsapp.graph.fake.fail_rate(0.0)
    time.sleep(1.0)
    assert all(len(whatsapp.graph.sent_to(user)) == 3 for user in users)
