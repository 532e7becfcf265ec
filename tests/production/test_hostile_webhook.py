"""Hostile input at the WhatsApp webhook of one real `rasa run`: never a 5xx, nothing stored unsigned.

A hypothesis fuzzer posts FUZZ_CASES (default 10,000) bodies of every shape, each unsigned, with a
forged signature, or correctly signed: random JSON, Meta-shaped envelopes with wrong types in every
field, non-UTF-8 bytes, huge strings, with wrong content types. Fixed cases add 10,000-level nesting
and bodies above 3 MB. Afterwards the server still answers a signed "hi".
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import time
from typing import Any, Iterator, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select, table

from tests.connectors.whatsapp_support import delivery, signed, text
from tests.e2e.whatsapp_fixtures import PHONE_NUMBER_ID, WhatsAppStack, partial_post, whatsapp  # noqa: F401

FUZZ_CASES = int(os.environ.get("FUZZ_CASES", "10000"))
PATH = "/webhooks/whatsapp/webhook"
STORED = ("whatsapp_webhooks", "whatsapp_inbound")
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                 "application/xml", "application/json; charset=latin-1", "", "*/*; q=\x7f", "image/png"]
seen: dict[str, int] = {"cases": 0, "5xx": 0}


class Client:
    """A keep-alive HTTP client for the webhook, reconnecting when the server closes the connection."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.conn: Optional[http.client.HTTPConnection] = None

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST body with exactly these headers; return (status, body)."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request("POST", PATH, body=body, headers=headers)
                answer = self.conn.getresponse()
                data = answer.read()
                if answer.getheader("connection", "").lower() == "close":
                    self.close()
                return answer.status, data
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Drop the connection."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@pytest.fixture(scope="module")
def target(whatsapp: WhatsAppStack) -> Iterator[tuple[WhatsAppStack, Client, Any]]:  # noqa: F811
    """The stack, a webhook client and an engine on the stack's database."""
    client = Client(whatsapp.stack.rasa_url)
    db = create_engine(whatsapp.stack.db_url, future=True)
    yield whatsapp, client, db
    client.close()
    db.dispose()


def stored(db: Any) -> tuple[int, ...]:
    """Count the rows a delivery adds (raw webhook log, inbound messages)."""
    with db.connect() as connection:
        return tuple(connection.scalar(select(func.count()).select_from(table(name))) for name in STORED)


def signature(secret: str, body: bytes) -> str:
    """Return Meta's X-Hub-Signature-256 value for body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(target: Any, body: bytes, how: str, content_type: str = "application/json",
         forged: str = "") -> int:
    """POST body unsigned, forged or signed; check no 5xx and nothing stored unless signed; return status."""
    whatsapp, client, db = target
    headers = {"Content-Type": content_type} if content_type else {}
    if how == "signed":
        headers["X-Hub-Signature-256"] = signature(whatsapp.app_secret, body)
    elif how == "forged":
        headers["X-Hub-Signature-256"] = forged or signature("not-" + whatsapp.app_secret, body)
    before = stored(db) if how != "signed" else None
    status, answer = client.post(body, headers)
    seen["cases"] += 1
    seen["5xx"] += status >= 500
    assert status < 500, (how, status, answer[:200], body[:200])
    if how != "signed":
        assert status in (401, 403, 413), (how, status, answer[:200])
        assert stored(db) == before, f"{how} body was stored"
    return status


# ---- strategies ---------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=40),
                    st.sampled_from(["", "0", "-1", "1e309", "text", "image", "whatsapp", PHONE_NUMBER_ID,
                                     "919800000001", "messages", "statuses", "sent", "read", "failed"]))
any_json = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                        max_leaves=20)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """The strategy, or any JSON value at all in its place."""
    return st.one_of(strategy, any_json)


def partial_dicts(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """Dicts with any subset of the known fields, plus stray keys."""
    return st.builds(lambda known, extra: {**extra, **known},
                     st.fixed_dictionaries({}, optional=fields), st.dictionaries(st.text(max_size=8), any_json, max_size=2))


message_fields = {
    "from": maybe(st.sampled_from(["919800000001", "919800000099", "", "+91 98", "x" * 300])),
    "id": maybe(st.text(max_size=30).map(lambda s: "wamid." + s)),
    "timestamp": maybe(st.one_of(st.integers(), st.text(max_size=12), st.just(str(int(time.time()))))),
    "type": maybe(st.sampled_from(["text", "image", "interactive", "button", "location", "reaction", "unsupported",
                                   "document", "audio", "sticker", "contacts", "order", "system", "request_welcome"])),
    "text": maybe(partial_dicts({"body": maybe(st.text(max_size=50))})),
    "image": maybe(partial_dicts({"id": any_json, "mime_type": any_json, "caption": any_json, "sha256": any_json})),
    "interactive": maybe(partial_dicts({"type": maybe(st.sampled_from(["button_reply", "list_reply", "nfm_reply"])),
                                        "button_reply": maybe(partial_dicts({"id": any_json, "title": any_json})),
                                        "list_reply": maybe(partial_dicts({"id": any_json, "title": any_json}))})),
    "button": maybe(partial_dicts({"payload": any_json, "text": any_json})),
    "context": maybe(partial_dicts({"id": any_json, "from": any_json})),
    "errors": maybe(st.lists(partial_dicts({"code": any_json, "title": any_json}), max_size=2)),
    "referral": any_json,
}
status_fields = {
    "id": maybe(st.text(max_size=20)), "status": maybe(st.sampled_from(["sent", "delivered", "read", "failed", "x"])),
    "timestamp": any_json, "recipient_id": any_json, "biz_opaque_callback_data": maybe(st.just("outbox:1")),
    "errors": maybe(st.lists(partial_dicts({"code": any_json}), max_size=2)), "conversation": any_json,
    "pricing": any_json,
}
value = partial_dicts({
    "messaging_product": maybe(st.just("whatsapp")),
    "metadata": maybe(partial_dicts({"phone_number_id": maybe(st.just(PHONE_NUMBER_ID)),
                                     "display_phone_number": any_json})),
    "contacts": maybe(st.lists(partial_dicts({"wa_id": any_json, "profile": maybe(partial_dicts({"name": any_json})),
                                              "user_id": any_json}), max_size=3)),
    "messages": maybe(st.lists(partial_dicts(message_fields), max_size=3)),
    "statuses": maybe(st.lists(partial_dicts(status_fields), max_size=3)),
    "errors": any_json,
})
envelope = partial_dicts({
    "object": maybe(st.just("whatsapp_business_account")),
    "entry": maybe(st.lists(partial_dicts({
        "id": any_json,
        "changes": maybe(st.lists(partial_dicts({"field": maybe(st.sampled_from(["messages", "account_update"])),
                                                 "value": maybe(value)}), max_size=3)),
    }), max_size=3)),
})
json_bytes = st.one_of(any_json, envelope).map(lambda v: json.dumps(v).encode())
raw_bytes = st.one_of(
    st.binary(max_size=300),  # mostly not UTF-8
    st.sampled_from([b"", b"{", b"[" * 50, b"\xff\xfe{\x00}\x00", b'{"object": "\xc3\x28"}', b"null", b"NaN",
                     b"Infinity", b'{"a": 1e999999}', b'"\\ud800"', b"\xef\xbb\xbf{}", b'{"entry": [' + b"1," * 5000 + b"1]}"]),
    st.builds(lambda n, ch: json.dumps({"object": "whatsapp_business_account", "entry": ch * n}).encode(),
              st.integers(min_value=1, max_value=200_000), st.sampled_from(["x", "\u00e9", "\U0001f600", "\\"])),
)
bodies = st.one_of(json_bytes, raw_bytes)
forgeries = st.one_of(st.just(""), st.sampled_from(["sha256=", "sha256=zz", "sha1=abc", "md5=0", "sha256=" + "0" * 64,
                                                     "SHA256=" + "a" * 64, " ", "sha256=" + "g" * 64]),
                      st.text(max_size=80).filter(lambda s: s.isprintable() and s.isascii()))


@settings(max_examples=FUZZ_CASES, deadline=None, database=None, derandomize=False,
          suppress_health_check=list(HealthCheck))
@given(body=bodies, how=st.sampled_from(["unsigned", "forged", "signed", "signed"]),
       content_type=st.one_of(st.just("application/json"), st.sampled_from(CONTENT_TYPES)), forged=forgeries)
def fuzz(target: Any, body: bytes, how: str, content_type: str, forged: str) -> None:
    """One hostile POST: never a 5xx; unsigned or forged bodies are refused and never stored."""
    post(target, body, how, content_type, forged)


def test_fuzzed_bodies_never_get_a_5xx_and_unsigned_ones_are_never_stored(target):
    """FUZZ_CASES hostile deliveries, unsigned, forged and signed, all answered below 500."""
    started = time.monotonic()
    fuzz(target)
    print(f"\nfuzz: {seen['cases']} cases in {time.monotonic() - started:.1f}s, 5xx seen {seen['5xx']}")
    assert seen["5xx"] == 0


@pytest.mark.parametrize("how", ["unsigned", "forged", "signed"])
def test_json_nested_ten_thousand_levels_deep_is_refused_without_a_5xx(target, how):
    """A body of 10,000 nested arrays (and objects) gets a 4xx, signed or not."""
    for body in (b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
                 json.dumps({"object": "whatsapp_business_account"}).encode()[:-1] + b', "entry": ' + b"[" * 10_000
                 + b"]" * 10_000 + b"}"):
        assert 400 <= post(target, body, how) < 500


@pytest.mark.parametrize("how", ["unsigned", "forged", "signed"])
@pytest.mark.parametrize("size", [3 * 1024 * 1024 + 1, 8 * 1024 * 1024])
def test_bodies_above_three_megabytes_are_refused(target, how, size):
    """A body above Meta's 3 MB payload limit gets a 4xx after its first 64 kB and is not stored, even when signed.

    The server answers from the Content-Length and closes without reading the rest, so the body is
    sent only in part: a client still sending would see the connection reset instead of the answer.
    """
    whatsapp, _, db = target
    before = stored(db)
    body = json.dumps({"object": "whatsapp_business_account", "entry": [], "pad": "x" * size}).encode()
    headers = {"Content-Type": "application/json"}
    if how != "unsigned":
        headers["X-Hub-Signature-256"] = signature(whatsapp.app_secret if how == "signed" else "not-it", body)
    status, _ = partial_post(f"{whatsapp.stack.rasa_url}{PATH}", headers, len(body), body[:65536])
    assert status == 413
    assert stored(db) == before


def test_a_replayed_signature_on_another_body_is_refused(target):
    """Meta's signature of one body does not authorise a different body."""
    whatsapp, _, _ = target
    _, headers = signed(delivery(text("919800000001", "hi")), whatsapp.app_secret)
    other = json.dumps(delivery(text("919800000002", "hi"))).encode()
    assert post(target, other, "forged", forged=headers["X-Hub-Signature-256"]) == 403


def test_the_server_still_answers_a_signed_hi_afterwards(target):
    """After all of the above, a valid signed "hi" is acknowledged and answered."""
    whatsapp, _, _ = target
    before = len(whatsapp.graph.sent_to("919800000002"))
    whatsapp.say("919800000002", "hi")
    assert len(whatsapp.graph.wait_for("919800000002", before + 1, timeout=60)) > before
