"""`rasa run` refuses a webhook body over Meta's 3 MB limit from its Content-Length, before reading it.

Sanic would otherwise read up to its 100 MB default into memory before the channel could look at the
size. The test sends the headers of a 4 MB delivery and only its first kilobyte, then waits for the
answer: a 413 that arrives while 4 MB are still unsent shows the body was never read.
"""
from __future__ import annotations

import json

from tests.connectors.whatsapp_support import delivery, signed, text
from tests.e2e.whatsapp_fixtures import partial_post, whatsapp  # noqa: F401 - the module's running stack

FOUR_MB = 4 * 1024 * 1024


def test_a_4mb_delivery_gets_413_without_being_read(whatsapp):  # noqa: F811
    """The 413 payload_too_large comes back after 1 kB of a 4 MB body, and nothing is stored."""
    raw, headers = signed(json.dumps(delivery(text("919800000001", "x" * FOUR_MB))).encode(), whatsapp.app_secret)
    status, body = partial_post(whatsapp.webhook_url, headers, len(raw), raw[:1024])
    assert (status, json.loads(body)) == (413, {"error": "payload_too_large"})
    assert whatsapp.rows("whatsapp_webhooks") == 0


def test_a_delivery_just_under_the_limit_is_still_read(whatsapp):  # noqa: F811
    """A body of 3 MB less a little reaches the channel (signature checked), so the limit is not set lower."""
    raw, headers = signed(json.dumps(delivery(text("919800000001", "x" * (3 * 1024 * 1024 - 4096)))).encode(),
                          whatsapp.app_secret)
    assert whatsapp.post(raw, {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}) == (
        403, {"error": "invalid_signature"})
