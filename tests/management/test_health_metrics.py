"""GET /health reports what a customer's message depends on; GET /metrics is valid Prometheus text."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert

from database.clock import utcnow
from database.session import sessions
from connectors.whatsapp.tables import statuses
from tests.harness import free_port
from tests.management.conftest import ASHA, AUTH, add_inbound, add_outbound

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})?'
                    r' (-?[0-9.e+]+|\+Inf|NaN)$')


def parse(text: str) -> dict[str, float]:
    """Return {sample with labels: value}, checking every line is valid exposition format."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


@pytest.mark.asyncio
async def test_healthy_when_database_model_and_action_server_are(api):
    """With all three up, health is 200 ok and reports the outbound queue depth."""
    add_outbound(ASHA, "waiting", state="queued")
    add_outbound(ASHA, "done", state="sent")
    status, body = await api.call("GET", "/health")
    assert status == 200
    assert body == {"status": "ok", "checks": {
        "database": {"ok": True, "error": None}, "model": {"ok": True, "error": None},
        "action_server": {"ok": True, "status_code": 200, "error": None},
        "outbound_queue": {"ok": True, "depth": 1}}}


@pytest.mark.asyncio
async def test_an_action_server_error_makes_health_503_with_the_same_shape(api):
    """The action server answering 500 turns health into 503 naming that check."""
    api.actions.status = 500
    status, body = await api.call("GET", "/health")
    assert (status, body["status"]) == (503, "unavailable")
    assert body["checks"]["action_server"] == {"ok": False, "status_code": 500, "error": "bad_status"}
    assert body["checks"]["database"]["ok"] and body["checks"]["model"]["ok"]


@pytest.mark.asyncio
async def test_an_unreachable_action_server_or_missing_model_is_503(api):
    """Nothing listening on the action port, or no model loaded, is 503."""
    api.agent.action_url = f"http://127.0.0.1:{free_port()}/webhook"
    api.agent.ready = False
    status, body = await api.call("GET", "/health")
    assert status == 503
    assert body["checks"]["action_server"] == {"ok": False, "status_code": None, "error": "unreachable"}
    assert body["checks"]["model"] == {"ok": False, "error": "not_loaded"}


@pytest.mark.asyncio
async def test_metrics_count_traffic_errors_queue_and_reply_latency(api):
    """Two messages in, a reply 1.5 s later, a failed send and a failed status appear with their values."""
    t = utcnow() - timedelta(minutes=1)
    wamid = f"wamid.{uuid.uuid4().hex}"
    add_inbound(ASHA, "hi", at=t, wamid=wamid)
    with sessions().begin() as session:
        session.execute(insert(statuses).values(wamid="wamid.x", status="failed", recipient_id=ASHA, timestamp=0,
                                                error_codes=[131047], received_at=t))
    add_inbound(ASHA, "ORD-10001", at=t)
    add_outbound(ASHA, "Hello", at=t, key=wamid, sent_at=t + timedelta(seconds=1.5))
    add_outbound(ASHA, "lost", at=t, state="failed", error_code=131026)
    add_outbound(ASHA, "later", at=t, state="queued", error_code=130429)
    async with api.http.get(api.url + "/metrics", headers=AUTH) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        samples = parse(await response.text())
    assert samples['whatsapp_messages_in_total{kind="text"}'] == 2
    assert samples['whatsapp_messages_out_total{kind="reply"}'] == 1
    assert samples['whatsapp_messages_out_failed_total{kind="reply",reason="unknown"}'] == 1
    assert samples['whatsapp_graph_errors_total{code="131026",stage="send"}'] == 1
    assert samples['whatsapp_graph_errors_total{code="131047",stage="delivery"}'] == 1
    assert samples['whatsapp_outbox_retrying{code="130429"}'] == 1
    assert samples['whatsapp_outbound_queue_depth{state="queued"}'] == 1
    assert samples["whatsapp_handoffs_waiting"] == 0
    assert samples['whatsapp_reply_latency_seconds_bucket{le="1"}'] == 0
    assert samples['whatsapp_reply_latency_seconds_bucket{le="2"}'] == 1
    assert samples['whatsapp_reply_latency_seconds_bucket{le="+Inf"}'] == 1
    assert samples["whatsapp_reply_latency_seconds_sum"] == 1.5
    assert samples["whatsapp_reply_latency_seconds_count"] == 1


@pytest.mark.asyncio
async def test_metrics_of_an_empty_database_are_still_valid(api):
    """A fresh install scrapes cleanly: zero gauges, an empty histogram."""
    status, text = await api.call("GET", "/metrics")
    samples = parse(text)
    assert status == 200 and samples["whatsapp_reply_latency_seconds_count"] == 0
    assert "# TYPE whatsapp_reply_latency_seconds histogram" in text
