"""Deeply nested JSON gets 400 `invalid_json` on every route that reads a body, never a 500."""
from __future__ import annotations

import json

import pytest

from database.clock import utcnow
from database.handoffs import request_handoff
from connectors.management.inputs import MAX_JSON_DEPTH
from tests.management.conftest import ASHA, add_contact, outbox_rows

BODY_ROUTES = ["/send", f"/handoffs/{ASHA}/reply"]  # every POST that parses JSON (release reads no body)


def nested(depth: int) -> dict:
    """Return a valid send body whose template components nest depth levels in all."""
    inner: object = "x"
    for _ in range(depth - 4):  # body object, template, components list, component object
        inner = [inner]
    return {"to": ASHA, "text": "hi", "template": {"name": "x", "components": [{"type": "body", "p": inner}]}}


BODIES = {
    "far_too_deep_to_parse": b"[" * 100_000 + b"]" * 100_000,
    "deep_object_in_a_key": b'{"to": "919800000001", "text": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001,
    "parses_but_too_deep": json.dumps(nested(MAX_JSON_DEPTH + 1)).encode(),
}


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize("name", list(BODIES))
@pytest.mark.asyncio
async def test_deep_json_is_a_400_with_a_stable_code(api, route, name):
    """Each body route answers 400 invalid_json with a detail, and queues nothing."""
    add_contact(ASHA, last_inbound_at=utcnow())
    request_handoff(ASHA)
    status, body = await api.call("POST", route, raw=BODIES[name])
    assert (status, body["error"]) == (400, "invalid_json") and "nested" in body["detail"]
    assert outbox_rows() == []


@pytest.mark.asyncio
async def test_release_ignores_a_deep_body(api):
    """The release route reads no body: a deep one changes nothing about its answer."""
    status, body = await api.call("POST", f"/handoffs/{ASHA}/release", raw=BODIES["far_too_deep_to_parse"])
    assert (status, body["error"]) == (404, "handoff_not_found")


@pytest.mark.asyncio
async def test_a_template_at_the_depth_limit_still_goes(api):
    """Nesting up to the limit is accepted, so the limit refuses only what no real send needs."""
    body = nested(MAX_JSON_DEPTH)
    del body["text"]
    status, answer = await api.call("POST", "/send", body)
    assert (status, answer["kind"]) == (202, "template")
