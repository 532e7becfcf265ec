"""The production configuration runs what the README promises beyond the webhook: on two instances behind
nginx, a quiet handoff goes back to the bot and a status change is told to the customer, each exactly once.

`deploy/credentials.production.yml` as it is, PostgreSQL, Redis and nginx from scripts/services.sh, the
idle time set to 6 seconds (HANDOFF_IDLE_MINUTES takes fractions) and a scan every second, so both
instances race for every hand-back and every notification. Counted at the Graph API stand-in.
"""
from __future__ import annotations

import json
import secrets
import time
import urllib.request
from typing import Any, Callable, Iterator

import pytest

from connectors.management.handoff import RELEASE_NOTE
from tests.connectors.whatsapp_support import delivery, text
from tests.e2e.whatsapp_fixtures import body_text
from tests.production.cluster import Cluster, running_cluster

ASHA = "919800000001"
IDLE_MINUTES = 0.1  # 6 s
SCAN_SECONDS = 1.0
SETTLE = 5.0  # seconds to keep counting after the first copy arrived: several rounds of both instances
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Wait until check() returns something truthy and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen in {timeout:.0f}s")


def texts_to(cluster: Cluster, wa_id: str) -> list[str]:
    """Return what the customer's phone received, in order."""
    return [body_text(m) for m in cluster.graph.sent_to(wa_id) if m.get("type") in ("text", "interactive")]


def api_get(cluster: Cluster, port: int, path: str, token: str) -> tuple[int, Any]:
    """GET an operator API route on one instance with the token."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/whatsapp{path}",
                                     headers={"Authorization": f"Bearer {token}"})
    with _NO_PROXY.open(request, timeout=15) as response:
        return response.status, json.loads(response.read())


@pytest.fixture(scope="module")
def token() -> str:
    """The operator API token of this cluster."""
    return secrets.token_urlsafe(24)


@pytest.fixture
def cluster(services: dict[str, str], pg_url: str, token: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two instances on a fresh schema with a short idle time, fast scans and the operator API on."""
    extra = {"HANDOFF_IDLE_MINUTES": str(IDLE_MINUTES), "NOTIFY_SCAN_SECONDS": str(SCAN_SECONDS),
             "MANAGEMENT_API_TOKEN": token}
    with running_cluster(services, pg_url, tmp_path_factory.mktemp("operator"), extra_env=extra) as running:
        yield running


def test_handoff_goes_back_after_idle_time_and_a_status_change_is_told_once(cluster, token):
    """Asha asks for a person and nobody answers: she gets the hand-back note once; her order ships: one update."""
    orders = cluster.scalar("SELECT count(*) FROM orders") + cluster.scalar("SELECT count(*) FROM defect_reports")
    eventually(lambda: cluster.scalar("SELECT count(*) FROM notifications") >= orders, 60, "the first scan's baseline")

    assert cluster.deliver(json.dumps(delivery(text(ASHA, "I want to talk to a person"))).encode())
    eventually(lambda: cluster.scalar("SELECT count(*) FROM handoffs WHERE open_key = :w", w=ASHA), 60,
               "the open handoff")
    status, waiting = api_get(cluster, cluster.instances[1].port, "/handoffs", token)
    assert status == 200 and [h["wa_id"] for h in waiting["handoffs"]] == [ASHA]

    eventually(lambda: RELEASE_NOTE in texts_to(cluster, ASHA), 60, "the hand-back note")
    time.sleep(SETTLE)
    assert texts_to(cluster, ASHA).count(RELEASE_NOTE) == 1
    assert cluster.rows("SELECT state, released_by FROM handoffs WHERE wa_id = :w", w=ASHA) == [("released", "idle")]

    with cluster.db.begin() as connection:  # the back office marks the order ready
        connection.exec_driver_sql("UPDATE orders SET status = 'ready' WHERE ref = 'ORD-10006'")
    update = "Update on your order *ORD-10006*"
    eventually(lambda: any(update in t for t in texts_to(cluster, ASHA)), 60, "the status notification")
    time.sleep(SETTLE)
    [told] = [t for t in texts_to(cluster, ASHA) if update in t]
    assert "ready for dispatch" in told
    assert cluster.scalar("SELECT count(*) FROM whatsapp_outbox WHERE inbound_wamid LIKE 'notify:%'") == 1
