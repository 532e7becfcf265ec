"""Parsing webhook deliveries: what the assistant and the status store would receive."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.whatsapp.updates import KINDS, Delivery, parse_delivery, status_rank

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
PEER_FIXTURES = Path(__file__).parents[1] / "fixtures" / "peer_payloads"
OUR_NUMBER = "109876543210"


def load(kind: str) -> dict[str, Any]:
    """Return the named variants of one fixture file."""
    return json.loads((FIXTURES / f"{kind}.json").read_text())


def variant(kind: str, name: str) -> Delivery:
    """Parse one named fixture variant."""
    return parse_delivery(load(kind)[name])


def _case(kind: str, name: str, *expected: str) -> Any:
    """Return a parametrize case for one fixture variant, named kind-name."""
    return pytest.param(kind, name, *expected, id=f"{kind}-{name}")


ALL_VARIANTS = [
    pytest.param(body, id=f"{path.stem}-{name}")
    for path in sorted(FIXTURES.glob("*.json"))
    if path.stem != "invalid" and not path.name.endswith(".raw.json")
    for name, body in json.loads(path.read_text()).items()
]


@pytest.mark.parametrize("body", ALL_VARIANTS)
def test_every_fixture_parses_without_raising(body: dict) -> None:
    """Every stored delivery, odd ones included, parses into known kinds and statuses."""
    delivery = parse_delivery(body)
    assert all(m.kind in KINDS for m in delivery.messages)
    assert all(isinstance(m.timestamp, int) for m in delivery.messages)
    assert all(json.dumps(m.metadata()) for m in delivery.messages)


@pytest.mark.parametrize("name", sorted(load("invalid")), ids=str)
def test_non_whatsapp_body_is_refused(name: str) -> None:
    """A body that is not a WhatsApp delivery at all raises ValueError (the webhook answers 400)."""
    with pytest.raises(ValueError):
        parse_delivery(load("invalid")[name])


@pytest.mark.parametrize(
    ("kind", "name", "expected_kind", "expected_text"),
    [
        _case("text", "text", "text", "Hi, what are your opening hours on Sunday?"),
        _case("text", "non_ascii", "text",
              "Ol\u00e1! O caf\u00e9 \u00e0s 9h est\u00e1 confirmado? Z\u00fcrich \u2192 S\u00e3o Paulo \u2708\ufe0f "
              "\u0928\u092e\u0938\u094d\u0924\u0947 \U0001f60a\U0001f44d\U0001f3fd"),
        _case("text", "forwarded", "text", "Offer: 20% off on all mugs this week"),
        _case("text", "context_reply", "text", "Does that include public holidays?"),
        _case("interactive", "button_reply", "button_reply", "menu_track_order"),
        _case("interactive", "list_reply", "list_reply", "slot_tue_1030"),
        _case("interactive", "missing_interactive_type", "unsupported", ""),
        _case("interactive", "flow_reply", "unsupported", ""),
        _case("button", "template_quick_reply", "template_button", "ORDER_4521_CONFIRM"),
        _case("button", "label_only", "template_button", "Confirm delivery"),
        _case("media", "image", "image", "Damaged box, order 4521"),
        _case("media", "video", "video", "Noise from the unit"),
        _case("media", "document", "document", "Invoice for March"),
        _case("media", "audio", "audio", ""),
        _case("media", "sticker", "sticker", ""),
        _case("location", "location", "location", ""),
        _case("contacts", "contacts", "contacts", ""),
        _case("reaction", "reaction", "reaction", ""),
        _case("reaction", "removed", "reaction", ""),
        _case("unsupported", "unsupported", "unsupported", ""),
        _case("unsupported", "unknown_type", "unsupported", ""),
        _case("system", "user_changed_number", "system", ""),
        _case("order", "order", "order", ""),
    ],
)
def test_assistant_receives_the_right_text(
    kind: str, name: str, expected_kind: str, expected_text: str
) -> None:
    """Text, tapped ids and payloads, and media captions reach the assistant as the message text."""
    [message] = variant(kind, name).messages
    assert (message.kind, message.text) == (expected_kind, expected_text)


def test_button_tap_remembers_title_and_quoted_message() -> None:
    """A reply-button tap carries its label and the wamid of the message that held the buttons."""
    [message] = variant("interactive", "button_reply").messages
    assert message.metadata()["details"] == {"title": "Track my order"}
    assert message.context is not None
    assert message.context.replied_to == "wamid.HBgMOTE5ODAwMDAwMDAxFQIAERgSMDVBOEU4NTM5RkRCQkJFQTIwAA=="


def test_sender_and_profile_come_from_the_message_and_contacts() -> None:
    """The reply goes to wa_id on the number the message came in on, greeting the profile name."""
    [message] = variant("text", "non_ascii").messages
    meta = message.metadata()
    assert (meta["wa_id"], meta["phone_number_id"], meta["profile_name"]) == (
        "919800000003", OUR_NUMBER, "Zo\u00eb \u00c1lvarez-N\u00fa\u00f1ez")
    assert meta["wamid"] == "wamid.HBgMOTE5ODAwMDAwMDAzFQIAEhgUODIwQzZCQUQ2QzZDRUU0QkJFRjcA"
    assert meta["timestamp"] == 1767690188


def test_username_only_user_is_keyed_by_bsuid() -> None:
    """A user with only a username is answered on the BSUID and still greeted by name."""
    [message] = variant("text", "bsuid_username_only").messages
    assert (message.wa_id, message.user_id, message.profile_name) == (
        "IN.1520000004839217", "IN.1520000004839217", "Ishaan")


def test_forward_and_quote_are_visible_to_the_assistant() -> None:
    """The assistant can tell a forwarded text from one quoting our earlier message."""
    [forwarded] = variant("text", "forwarded").messages
    [quoting] = variant("text", "context_reply").messages
    assert forwarded.metadata()["context"] == {"replied_to": None, "forwarded": True}
    assert quoting.metadata()["context"] == {
        "replied_to": "wamid.HBgMOTE5ODAwMDAwMDAxFQIAERgSNTdBRDUzNjM3MzM5QTJEMjExAA==", "forwarded": False}


@pytest.mark.parametrize(
    ("name", "media_id", "mime_type", "filename"),
    [
        ("image", "1288741093374015", "image/jpeg", None),
        ("video", "1420937765102258", "video/mp4", None),
        ("document", "1309552871128840", "application/pdf", "invoice_2026_03.pdf"),
        ("audio", "1174408826651932", "audio/ogg; codecs=opus", None),
        ("sticker", "1187760042219874", "image/webp", None),
    ],
    ids=["image", "video", "document", "audio", "sticker"],
)
def test_media_reference_is_downloadable(
    name: str, media_id: str, mime_type: str, filename: str | None
) -> None:
    """Each media message gives the id, type and name needed to fetch the file later."""
    [message] = variant("media", name).messages
    assert message.media is not None
    assert (message.media.media_id, message.media.mime_type, message.media.filename) == (
        media_id, mime_type, filename)
    assert message.metadata()["media"]["media_id"] == media_id


def test_metadata_never_carries_the_raw_body() -> None:
    """Rasa metadata holds ids and kinds, not the webhook envelope or the contacts array."""
    [message] = variant("contacts", "contacts").messages
    dumped = json.dumps(message.metadata())
    assert "rohan.iyer@example.com" not in dumped and "entry" not in message.metadata()


@pytest.mark.parametrize(
    ("name", "details"),
    [
        ("reaction", {"message_id": "wamid.HBgMOTE5ODAwMDAwMDAxFQIAERgSNTdBRDUzNjM3MzM5QTJEMjExAA==",
                      "emoji": "\u2764\ufe0f"}),
        ("removed", {"message_id": "wamid.HBgMOTE5ODAwMDAwMDAxFQIAERgSNTdBRDUzNjM3MzM5QTJEMjExAA==",
                     "emoji": ""}),
    ],
    ids=["added", "removed"],
)
def test_reaction_details(name: str, details: dict) -> None:
    """A reaction names the message reacted to; a removed reaction has an empty emoji."""
    [message] = variant("reaction", name).messages
    assert message.metadata()["details"] == details


def test_location_and_order_details() -> None:
    """A shared location and a cart order reach the assistant as structured details."""
    [location] = variant("location", "location").messages
    [order] = variant("order", "order").messages
    assert location.details["latitude"] == 19.0596 and location.details["name"] == "Bandra drop-off point"
    assert [i["product_retailer_id"] for i in order.details["items"]] == ["sku-tea-500g", "sku-mug-blue"]


def test_unsupported_message_keeps_its_type_and_error_code() -> None:
    """A poll the API cannot deliver is acked as unsupported with Meta's 131051."""
    [message] = variant("unsupported", "unsupported").messages
    assert message.details == {"type": "poll_creation", "error_codes": [131051]}


def test_system_message_reports_new_number() -> None:
    """A changed-number notice carries the new wa_id and has no profile name."""
    [message] = variant("system", "user_changed_number").messages
    assert (message.details["new_wa_id"], message.profile_name) == ("919800000044", None)


def test_batch_yields_every_message_and_status_from_every_entry() -> None:
    """A batch with two entries gives all messages (3 to our number) and all 3 statuses, in order."""
    delivery = variant("batch", "multi_messages")
    ours = [m for m in delivery.messages if m.phone_number_id == OUR_NUMBER]
    assert [m.text for m in ours] == ["Is the store open today?", "I mean the Bandra one", "slot_wed_1600"]
    assert [(m.wa_id, m.profile_name) for m in delivery.messages if m.phone_number_id != OUR_NUMBER] == [
        ("919800000005", "Meera Nair")]
    assert [s.status for s in delivery.statuses] == ["read", "delivered", "sent"]
    assert [s.recipient_id for s in delivery.statuses] == ["919800000001", "919800000001", "919800000004"]


@pytest.mark.parametrize(
    ("name", "status", "error_codes"),
    [("sent", "sent", ()), ("delivered", "delivered", ()), ("read", "read", ()),
     ("failed_131047", "failed", (131047,)), ("unexpected_value", "unknown", ())],
    ids=["sent", "delivered", "read", "failed_131047", "unexpected_value"],
)
def test_status_updates(name: str, status: str, error_codes: tuple) -> None:
    """Status webhooks give the wamid, the normalised status and any error codes."""
    [update] = variant("status", name).statuses
    assert (update.status, update.error_codes) == (status, error_codes)
    assert update.wamid.startswith("wamid.") and update.timestamp > 0


def test_statuses_only_move_forward() -> None:
    """A late "delivered" never overwrites "read", failed is terminal, unknown moves nothing."""
    assert status_rank("sent") < status_rank("delivered") < status_rank("read")
    assert status_rank("failed") > status_rank("read") and status_rank("failed") > status_rank("played")
    assert status_rank("unknown") == 0 < status_rank("sent")


def test_value_errors_are_reported() -> None:
    """An account-level error (130429) arrives as an error, not as a message or status."""
    delivery = variant("errors", "value_errors")
    assert (delivery.messages, delivery.statuses) == ((), ())
    assert [(e.code, e.phone_number_id) for e in delivery.errors] == [(130429, OUR_NUMBER)]


@pytest.mark.parametrize(("name", "value"), [("stop", "stop"), ("resume", "resume")], ids=["stop", "resume"])
def test_marketing_preferences(name: str, value: str) -> None:
    """A user stopping or resuming marketing messages is reported for that wa_id."""
    [pref] = variant("user_preferences", name).preferences
    assert (pref.wa_id, pref.value, pref.category) == ("919800000004", value, "marketing_messages")


@pytest.mark.parametrize(
    ("name", "kinds", "skipped"),
    [
        pytest.param("empty_entry", [], 0, id="empty_entry"),
        pytest.param("missing_value", [], 1, id="missing_value"),
        pytest.param("messages_not_a_list", [], 1, id="messages_not_a_list"),
        pytest.param("message_not_an_object", ["text"], 1, id="message_not_an_object"),
        pytest.param("message_missing_keys", ["text"], 0, id="message_missing_keys"),
        pytest.param("changes_not_a_list", [], 1, id="changes_not_a_list"),
        pytest.param("unknown_type_next_to_text", ["unsupported", "text"], 0, id="unknown_type_next_to_text"),
        pytest.param("no_contacts", ["text"], 0, id="no_contacts"),
    ],
)
def test_odd_shapes_never_lose_good_messages(name: str, kinds: list, skipped: int) -> None:
    """One odd item is skipped or marked unsupported while the rest of the delivery still parses."""
    delivery = variant("malformed", name)
    assert [m.kind for m in delivery.messages] == kinds
    assert delivery.skipped == skipped


def test_message_missing_keys_gets_safe_defaults() -> None:
    """A message without id, sender or timestamp parses with empty values the channel can skip; the only contact sent it."""
    [message] = variant("malformed", "message_missing_keys").messages
    assert (message.wamid, message.wa_id, message.timestamp, message.text) == ("", "919800000001", 0, "")


def test_message_naming_no_sender_is_from_the_only_contact() -> None:
    """A text with no `from` whose delivery lists one username user (netflie's fixture) is keyed by that BSUID."""
    body = json.loads((PEER_FIXTURES / "netflie__text_bsuid_only_no_from.json").read_text())
    [message] = parse_delivery(body).messages
    assert (message.wa_id, message.user_id, message.profile_name, message.text) == (
        "BSUID_123", "BSUID_123", "NAME", "MESSAGE_BODY")


def test_message_naming_no_sender_among_several_contacts_has_none() -> None:
    """With two contacts listed, a message naming no sender is not guessed to be from either."""
    body = load("malformed")["message_missing_keys"]
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"].append({"profile": {"name": "Ravi"}, "wa_id": "919800000002"})
    [message] = parse_delivery(body).messages
    assert (message.wa_id, message.user_id) == ("", None)


def test_a_message_the_customer_deleted_gets_no_answer():
    """A revoke (the customer deleted a message) asks nothing, so the bot stays silent; an edit is still answered."""
    from connectors.whatsapp.worker import is_silent

    assert is_silent("unsupported", {"details": {"type": "revoke"}})
    assert not is_silent("unsupported", {"details": {"type": "edit"}})
