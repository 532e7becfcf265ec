"""The simulator's webhook deliveries look, encode and sign like Meta's, and the channel reads them."""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.whatsapp.security import verify_signature
from connectors.whatsapp.updates import parse_delivery
from simulator import deliveries
from simulator.deliveries import Business

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "webhooks"
BUSINESS = Business("109876543210", "102030405060", "15550001234")
USER = "919800000001"
SECRET = "test_app_secret_not_real"
CONTEXT = deliveries.context_of(BUSINESS, "wamid.BUSINESS1")


def meta_example(kind: str, name: str) -> dict[str, Any]:
    """Return one stored Meta delivery (tests/fixtures/webhooks/<kind>.json)."""
    return json.loads((FIXTURES / f"{kind}.json").read_text())[name]


def key_paths(node: Any, prefix: str = "") -> set[str]:
    """Return every dotted key path in a JSON value (list items merged under [])."""
    paths: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            paths.add(prefix + key)
            paths |= key_paths(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        for value in node:
            paths |= key_paths(value, f"{prefix}[].")
    return paths


def delivery_of(message: dict[str, Any]) -> dict[str, Any]:
    """Wrap a message from USER."""
    return deliveries.message_delivery(BUSINESS, USER, "Asha Mehta", message)


BUILT = {
    "text": delivery_of(deliveries.text_message(USER, "wamid.SIM1", 1767690121, "hi")),
    "button_reply": delivery_of(deliveries.button_reply_message(USER, "wamid.SIM2", 1767690121, CONTEXT,
                                                                "menu_orders", "Check Order Status")),
    "list_reply": delivery_of(deliveries.list_reply_message(USER, "wamid.SIM3", 1767690121, CONTEXT,
                                                            "slot_tue_1030", "Tue 10:30", "Andheri branch")),
    "template_button": delivery_of(deliveries.template_button_message(USER, "wamid.SIM4", 1767690121, CONTEXT,
                                                                      "ORDER_CONFIRM", "Confirm delivery")),
    "image": delivery_of(deliveries.image_message(USER, "wamid.SIM5", 1767690121, "1000000000000001",
                                                  "image/jpeg", b"\xff\xd8photo", "Damaged box")),
    "sent": deliveries.status_delivery(BUSINESS, "wamid.B1", "sent", USER, 1767691003),
    "delivered": deliveries.status_delivery(BUSINESS, "wamid.B1", "delivered", USER, 1767691005),
    "read": deliveries.status_delivery(BUSINESS, "wamid.B1", "read", USER, 1767691042),
}
EXAMPLES = {
    "text": ("text", "text"), "button_reply": ("interactive", "button_reply"),
    "list_reply": ("interactive", "list_reply"), "template_button": ("button", "template_quick_reply"),
    "image": ("media", "image"), "sent": ("status", "sent"), "delivered": ("status", "delivered"),
    "read": ("status", "read"),
}
# The image carries no url on purpose: the channel must use the Graph media lookup, as README 6 allows.
LEFT_OUT = {"image": {"entry.[].changes.[].value.messages.[].image.url"}}


@pytest.mark.parametrize("kind", list(BUILT), ids=list(BUILT))
def test_deliveries_have_the_keys_of_metas_examples(kind: str) -> None:
    """Each delivery the simulator builds has exactly the keys of Meta's example of that kind."""
    expected = key_paths(meta_example(*EXAMPLES[kind])) - LEFT_OUT.get(kind, set())
    assert key_paths(BUILT[kind]) == expected


@pytest.mark.parametrize(
    ("kind", "text"),
    [("text", "hi"), ("button_reply", "menu_orders"), ("list_reply", "slot_tue_1030"),
     ("template_button", "ORDER_CONFIRM"), ("image", "Damaged box")],
    ids=["text", "button_reply", "list_reply", "template_button", "image"],
)
def test_the_channel_parser_reads_each_delivery(kind: str, text: str) -> None:
    """The channel's own parser turns each delivery into one message from the user with the right text."""
    parsed = parse_delivery(json.loads(deliveries.encode_delivery(BUILT[kind])))
    [message] = parsed.messages
    assert (message.wa_id, message.profile_name, message.phone_number_id, message.text) == (
        USER, "Asha Mehta", BUSINESS.phone_number_id, text)
    if kind != "text" and kind != "image":
        assert message.context is not None and message.context.replied_to == "wamid.BUSINESS1"
    assert parsed.skipped == 0


def test_image_carries_the_media_id_and_base64_sha256() -> None:
    """A photo names its media id, MIME type and base64 SHA-256 digest, as Meta's webhooks do."""
    image = BUILT["image"]["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    assert image == {"caption": "Damaged box", "mime_type": "image/jpeg", "id": "1000000000000001",
                     "sha256": base64.b64encode(hashlib.sha256(b"\xff\xd8photo").digest()).decode()}


def test_statuses_carry_pricing_on_sent_and_delivered_and_echo_callback_data() -> None:
    """Pricing rides on sent and delivered only; biz_opaque_callback_data comes back as sent."""
    items = {s: deliveries.status_delivery(BUSINESS, "wamid.B1", s, USER, 1, "outbox:7")
             ["entry"][0]["changes"][0]["value"]["statuses"][0] for s in ("sent", "delivered", "read")}
    assert ["pricing" in item for item in items.values()] == [True, True, False]
    assert {item["biz_opaque_callback_data"] for item in items.values()} == {"outbox:7"}
    parsed = parse_delivery(json.loads(deliveries.encode_delivery(
        deliveries.status_delivery(BUSINESS, "wamid.B1", "read", USER, 5, "outbox:7"))))
    [status] = parsed.statuses
    assert (status.wamid, status.status, status.recipient_id, status.callback_data) == (
        "wamid.B1", "read", USER, "outbox:7")


def test_encoding_is_compact_and_escapes_non_ascii_like_meta() -> None:
    """The wire body is compact JSON with every non-ASCII character written as \\uXXXX."""
    body = deliveries.encode_delivery(delivery_of(
        deliveries.text_message(USER, "wamid.SIM9", 1, "Namaste नमस्ते 😊 <b>&")))
    assert body.isascii() and b": " not in body and b", " not in body
    assert b"\\u0928\\u092e" in body and b"\\ud83d\\ude0a" in body
    assert json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] == (
        "Namaste नमस्ते 😊 <b>&")


def test_signature_verifies_with_the_channels_check() -> None:
    """The X-Hub-Signature-256 value verifies with the channel's verify_signature, and only for that body."""
    body = deliveries.encode_delivery(BUILT["text"])
    header = deliveries.sign(SECRET, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, body, header)
    assert not verify_signature(SECRET, body.replace(b'"hi"', b'"hI"'), header)
    assert not verify_signature("another_secret", body, header)


def test_encoding_reproduces_metas_wire_bytes_and_documented_digest() -> None:
    """Meta's escaped example re-encodes byte for byte and signs to the digest payloads/README.md gives."""
    raw = (FIXTURES / "text_non_ascii.raw.json").read_bytes()
    assert deliveries.encode_delivery(json.loads(raw)) == raw
    assert deliveries.sign(SECRET, raw) == (
        "sha256=f4a22ec48c642f3ae255420b6fb732505ad6013022621df90165dfb35065235c")


def test_new_wamids_are_marked_simulated_and_unique() -> None:
    """Every simulated wamid starts with wamid.SIM and none repeats."""
    wamids = {deliveries.new_wamid() for _ in range(500)}
    assert len(wamids) == 500 and all(w.startswith("wamid.SIM") for w in wamids)
