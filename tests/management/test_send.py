"""POST /send stores and queues a message for the channel's sender, within opt-out and the 24-hour window."""
from __future__ import annotations

from datetime import timedelta

import pytest

from database.clock import utcnow
from tests.management.conftest import ASHA, RAVI, add_contact, outbox_rows

TEMPLATE = {"name": "order_update", "language": "en",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "ORD-10002"}]}]}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[]", "invalid_json"),
        (b"", "invalid_json"),
        (b'{"text": "hi"}', "invalid_wa_id"),
        (b'{"to": "abc", "text": "hi"}', "invalid_wa_id"),
        (b'{"to": "0919800000001", "text": "hi"}', "invalid_wa_id"),
        (b'{"to": 919800000001, "text": "hi"}', "invalid_wa_id"),
        (b'{"to": "9198000000011234567", "text": "hi"}', "invalid_wa_id"),
        (b'{"to": "919800000001"}', "invalid_body"),
        (b'{"to": "919800000001", "text": "hi", "template": {"name": "x"}}', "invalid_body"),
        (b'{"to": "919800000001", "text": ""}', "invalid_body"),
        (b'{"to": "919800000001", "text": "  \\n "}', "invalid_body"),
        (b'{"to": "919800000001", "text": 5}', "invalid_body"),
        (b'{"to": "919800000001", "text": "' + b"x" * 4097 + b'"}', "invalid_body"),
        (b'{"to": "919800000001", "text": "hi", "priority": 1}', "invalid_body"),
        (b'{"to": "919800000001", "template": "order_update"}', "invalid_template"),
        (b'{"to": "919800000001", "template": {"name": "Order Update"}}', "invalid_template"),
        (b'{"to": "919800000001", "template": {"name": "x", "language": "english!"}}', "invalid_template"),
        (b'{"to": "919800000001", "template": {"name": "x", "components": {"type": "body"}}}', "invalid_template"),
        (b'{"to": "919800000001", "template": {"name": "x", "components": [{"text": "a"}]}}', "invalid_template"),
        (b'{"to": "919800000001", "template": {"name": "x", "namespace": "y"}}', "invalid_template"),
    ],
    ids=["not_json", "array", "empty_body", "no_to", "letters", "leading_zero", "number_not_string", "too_long_number",
         "no_text_or_template", "both", "empty_text", "blank_text", "text_not_string", "text_too_long",
         "unknown_field", "template_not_object", "template_bad_name", "template_bad_language",
         "components_not_list", "component_without_type", "template_unknown_field"],
)
@pytest.mark.asyncio
async def test_bad_input_gets_400_with_a_code_and_queues_nothing(api, raw, code):
    """Each kind of bad body is refused with 400 and its stable error code; nothing reaches the outbox."""
    add_contact(ASHA, last_inbound_at=utcnow())
    status, body = await api.call("POST", "/send", raw=raw)
    assert (status, body["error"]) == (400, code) and body["detail"]
    assert outbox_rows() == []


@pytest.mark.asyncio
async def test_a_text_inside_the_window_is_queued_for_the_sender(api):
    """A customer who wrote an hour ago can get free-form text: 202 with the outbox id of a queued row."""
    add_contact(ASHA, last_inbound_at=utcnow() - timedelta(hours=1))
    status, body = await api.call("POST", "/send", {"to": "+" + ASHA, "text": "Your order leaves today."})
    [row] = outbox_rows(ASHA)
    assert (status, body) == (202, {"id": row.id, "status": "queued", "to": ASHA, "kind": "text"})
    assert (row.state, row.kind, row.seq) == ("queued", "api", 0) and row.inbound_wamid.startswith("api:")
    assert row.payload == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+" + ASHA,
                           "type": "text", "text": {"body": "Your order leaves today.", "preview_url": False}}


@pytest.mark.parametrize("last_inbound", [None, timedelta(hours=24, minutes=1), timedelta(days=40)],
                         ids=["never_wrote", "just_over_24h", "long_ago"])
@pytest.mark.asyncio
async def test_free_form_text_outside_the_window_is_refused_with_a_hint(api, last_inbound):
    """Without a message from the customer in the last 24 hours, text gets 409 and the hint to use a template."""
    if last_inbound is not None:
        add_contact(ASHA, last_inbound_at=utcnow() - last_inbound)
    status, body = await api.call("POST", "/send", {"to": ASHA, "text": "Hello again"})
    assert (status, body) == (409, {"error": "outside_service_window", "hint": "send a template"})
    assert outbox_rows() == []


@pytest.mark.asyncio
async def test_a_template_may_go_outside_the_window(api):
    """A template to a number that never wrote is queued as kind "template" with Graph's template object."""
    status, body = await api.call("POST", "/send", {"to": RAVI, "template": TEMPLATE})
    [row] = outbox_rows(RAVI)
    assert (status, body["kind"], body["id"]) == (202, "template", row.id) and row.kind == "template"
    assert row.payload["type"] == "template"
    assert row.payload["template"] == {"name": "order_update", "language": {"code": "en"},
                                       "components": TEMPLATE["components"]}


@pytest.mark.asyncio
async def test_graphs_language_object_is_accepted_too(api):
    """template.language may be written as Graph writes it: {"code": "pt_BR"}."""
    status, _ = await api.call("POST", "/send", {"to": RAVI, "template": {"name": "x", "language": {"code": "pt_BR"}}})
    assert status == 202 and outbox_rows(RAVI)[0].payload["template"]["language"] == {"code": "pt_BR"}


@pytest.mark.parametrize("message", [{"text": "Hello"}, {"template": TEMPLATE}], ids=["text", "template"])
@pytest.mark.asyncio
async def test_nothing_goes_to_a_number_that_opted_out(api, message):
    """A customer who sent STOP gets neither text nor template: 409 opted_out."""
    add_contact(ASHA, last_inbound_at=utcnow(), opted_out=True)
    status, body = await api.call("POST", "/send", {"to": ASHA, **message})
    assert (status, body) == (409, {"error": "opted_out"})
    assert outbox_rows() == []


@pytest.mark.asyncio
async def test_two_sends_are_two_messages_in_order(api):
    """Each call is its own outbox row; ids grow in the order the sender will send them."""
    add_contact(ASHA, last_inbound_at=utcnow())
    first = (await api.call("POST", "/send", {"to": ASHA, "text": "one"}))[1]["id"]
    second = (await api.call("POST", "/send", {"to": ASHA, "text": "two"}))[1]["id"]
    assert second > first
    assert [r.payload["text"]["body"] for r in outbox_rows(ASHA)] == ["one", "two"]
