"""Restarts and crashes of `rasa run` neither lose an acknowledged message nor answer one twice."""
from __future__ import annotations

import json
import signal
import time

from tests.connectors.whatsapp_support import delivery, text
from tests.e2e.whatsapp_fixtures import titles, whatsapp  # noqa: F401

MAIN_MENU_ROWS = 5


def test_the_same_delivery_after_a_restart_gets_no_second_reply(whatsapp):
    """A delivery Meta retries after Rasa restarted is acknowledged and not answered again."""
    user = "919800000101"
    raw = json.dumps(delivery(text(user, "hi"))).encode()
    assert whatsapp.post(raw) == (200, {"status": "ok"})
    assert len(whatsapp.graph.wait_for(user, 2)) == 2
    whatsapp.restart_rasa(signal.SIGTERM)
    assert whatsapp.post(raw) == (200, {"status": "ok"})
    received = whatsapp.settled(user, 2, quiet=3.0)
    assert len(received) == 2 and len(titles(received[1])) == MAIN_MENU_ROWS


def test_every_acknowledged_message_is_answered_once_after_a_sigkill(whatsapp):
    """Killing Rasa mid-work and starting it again answers each acked message exactly once."""
    users = [f"9198000002{n:02d}" for n in range(12)]
    whatsapp.graph.fake.set_latency(150)  # keep sends in flight when the kill lands
    bodies = [json.dumps(delivery(text(user, "hi"))).encode() for user in users]
    statuses = list(whatsapp.pool.map(lambda raw: whatsapp.post(raw)[0], bodies))
    assert statuses == [200] * len(users)
    whatsapp.graph.wait_for(users[0], 1, timeout=20)  # some replies are out, most are not
    whatsapp.stack.services["rasa"].stop(signal.SIGKILL)
    in_flight = sum(len(whatsapp.graph.sent_to(user)) < 2 for user in users)
    whatsapp.graph.fake.set_latency(0)
    whatsapp.restart_rasa(signal.SIGKILL)  # already dead; this only starts it again

    for user in users:
        whatsapp.graph.wait_for(user, 2, timeout=90)
    # Rows the kill left "sending" are settled by Meta's status (or sent again after a grace):
    # wait until none is open, so a duplicate send would have happened by now.
    deadline = time.monotonic() + 120
    while whatsapp.rows("whatsapp_outbox", "state IN ('queued', 'sending')") and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)
    assert in_flight > 0
    for user in users:
        received = whatsapp.graph.sent_to(user)
        assert [m["type"] for m in received] == ["text", "interactive"], user
        assert len(titles(received[1])) == MAIN_MENU_ROWS
    assert whatsapp.rows("whatsapp_inbound", "state != 'done'") == 0
