"""Rendering Rasa responses: what lands on the user's phone, within Meta's limits."""
from __future__ import annotations

from typing import Any

import pytest

from connectors.whatsapp.render import Rendered, render_response, split_text
from tests.fakes.graph_rules import validate_message

USER = "919800000001"


def buttons(n: int, title: str = "Option {i}", payload: str = '/choose{{"option":{i}}}') -> list[dict[str, str]]:
    """Return n Rasa buttons with numbered titles and payloads."""
    return [{"title": title.format(i=i), "payload": payload.format(i=i)} for i in range(1, n + 1)]


def titles(payload: dict[str, Any]) -> list[str]:
    """Return the tappable titles a user sees on one interactive message."""
    interactive = payload["interactive"]
    if interactive["type"] == "button":
        return [b["reply"]["title"] for b in interactive["action"]["buttons"]]
    return [r["title"] for s in interactive["action"]["sections"] for r in s["rows"]]


def ids(payload: dict[str, Any]) -> list[str]:
    """Return the ids that come back when the user taps each option."""
    interactive = payload["interactive"]
    if interactive["type"] == "button":
        return [b["reply"]["id"] for b in interactive["action"]["buttons"]]
    return [r["id"] for s in interactive["action"]["sections"] for r in s["rows"]]


@pytest.mark.parametrize("n", [1, 2, 3], ids=lambda n: f"{n}_buttons")
def test_up_to_three_choices_arrive_as_reply_buttons(n: int) -> None:
    """One to three options become one message with numbered reply buttons under the text."""
    rendered = render_response(USER, {"text": "Is this your order?", "buttons": buttons(n)})
    [message] = rendered.payloads
    assert message["interactive"]["type"] == "button"
    assert message["interactive"]["body"]["text"] == "Is this your order?"
    assert titles(message) == [f"{i}. Option {i}" for i in range(1, n + 1)]
    assert ids(message) == [b["payload"] for b in buttons(n)]


def test_yes_no_buttons_show_their_numbers() -> None:
    """Yes/No buttons read "1. Yes" and "2. No", so typing 1 or 2 also works."""
    rendered = render_response(USER, {"text": "Confirm?", "buttons": [
        {"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]})
    assert titles(rendered.payloads[0]) == ["1. Yes", "2. No"]
    assert rendered.choices == {"1": "/affirm", "2": "/deny"}


@pytest.mark.parametrize("n", [4, 5, 10], ids=lambda n: f"{n}_buttons")
def test_four_to_ten_choices_arrive_as_one_list(n: int) -> None:
    """Four to ten options become one list message with one numbered row per option."""
    rendered = render_response(USER, {"text": "What do you need?", "buttons": buttons(n)})
    [message] = rendered.payloads
    assert message["interactive"]["type"] == "list"
    assert message["interactive"]["action"]["button"] == "Choose"
    assert len(message["interactive"]["action"]["sections"]) == 1
    assert titles(message) == [f"{i}. Option {i}" for i in range(1, n + 1)]


def test_more_than_ten_choices_arrive_as_numbered_text_without_payloads() -> None:
    """Twelve options become a numbered text menu of titles only; payloads stay hidden."""
    rendered = render_response(USER, {"text": "Pick a store:", "buttons": buttons(12, title="Store {i}")})
    [message] = rendered.payloads
    body = message["text"]["body"]
    assert message["type"] == "text"
    assert body == "Pick a store:\n\n" + "\n".join(f"{i}. Store {i}" for i in range(1, 13))
    assert "/choose" not in body and "{" not in body
    assert rendered.choices["12"] == '/choose{"option":12}'


def test_quick_replies_render_like_buttons() -> None:
    """Rasa quick replies show up as reply buttons too."""
    rendered = render_response(USER, {"text": "Rate us", "quick_replies": buttons(2, title="{i} stars")})
    assert titles(rendered.payloads[0]) == ["1. 1 stars", "2. 2 stars"]


def test_long_titles_are_shortened_and_stay_unique() -> None:
    """Options sharing a long prefix keep distinct, numbered titles within 20 characters."""
    long = [{"title": f"Check the status of my order number {i}", "payload": f"/status{i}"} for i in range(3)]
    shown = titles(render_response(USER, {"text": "Which?", "buttons": long}).payloads[0])
    assert len(set(shown)) == 3
    assert all(len(t) <= 20 and t.endswith("\u2026") for t in shown)
    assert shown[0] == "1. Check the status\u2026"


def test_long_row_titles_continue_in_the_description() -> None:
    """A list row title cut at 24 characters continues in its description."""
    options = buttons(4, title="Check Order Status for shipment {i}")
    [message] = render_response(USER, {"text": "Menu", "buttons": options}).payloads
    row = message["interactive"]["action"]["sections"][0]["rows"][0]
    assert row["title"] == "1. Check Order Status\u2026"
    assert row["description"] == "\u2026for shipment 1"


def test_too_long_payloads_get_short_ids_that_map_back() -> None:
    """A payload longer than Meta allows travels as "opt:<n>" and maps back to the full payload."""
    payload = '/inform{"note": "' + "x" * 300 + '"}'
    rendered = render_response(USER, {"text": "Go?", "buttons": [
        {"title": "Go", "payload": payload}, {"title": "Stop", "payload": "/stop"}]})
    assert ids(rendered.payloads[0]) == ["opt:1", "/stop"]
    assert rendered.choices["opt:1"] == payload and rendered.choices["1"] == payload


def test_duplicate_payloads_get_distinct_ids() -> None:
    """Two buttons with the same payload still get unique ids, as Meta requires."""
    rendered = render_response(USER, {"text": "?", "buttons": [
        {"title": "Yes", "payload": "/affirm"}, {"title": "Sure", "payload": "/affirm"}]})
    assert ids(rendered.payloads[0]) == ["/affirm", "opt:2"]


def test_long_text_is_split_at_paragraphs_in_order() -> None:
    """A 10,000-character answer arrives as texts under 4096 characters, cut between paragraphs."""
    paragraphs = [f"Paragraph {i}. " + "word " * 90 for i in range(22)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert len(text) > 10_000
    bodies = [p["text"]["body"] for p in render_response(USER, {"text": text}).payloads]
    assert len(bodies) >= 3 and all(len(b) <= 4096 for b in bodies)
    assert "\n\n".join(bodies) == text  # nothing lost, nothing reordered, cuts only between paragraphs


@pytest.mark.parametrize(
    ("text", "joiner"),
    [("line of text\n" * 800, "\n"), ("word " * 2500, " "), ("x" * 10_000, "")],
    ids=["lines", "words", "unbroken"],
)
def test_split_falls_back_to_lines_then_words_then_hard_cuts(text: str, joiner: str) -> None:
    """Without paragraph breaks the text is cut between lines, then words, then anywhere."""
    chunks = split_text(text)
    assert all(len(c) <= 4096 for c in chunks) and len(chunks) > 1
    assert joiner.join(chunks) == text.strip()


def test_text_too_long_for_a_button_body_goes_first() -> None:
    """Buttons under a long text: the text arrives first and the buttons carry the closing question."""
    text = "Here are the details. " * 60 + "\n\nWhat would you like to do?"
    rendered = render_response(USER, {"text": text, "buttons": buttons(2)})
    first, second = rendered.payloads
    assert first["type"] == "text" and first["text"]["body"].startswith("Here are the details.")
    assert second["interactive"]["body"]["text"] == "What would you like to do?"


def test_image_with_short_text_is_one_captioned_image() -> None:
    """An image with a short text arrives as one image bubble with that caption."""
    [message] = render_response(USER, {"text": "Your label", "image": "https://cdn.example.com/l.png"}).payloads
    assert message["type"] == "image"
    assert message["image"] == {"link": "https://cdn.example.com/l.png", "caption": "Your label"}


def test_image_with_long_text_sends_text_then_image() -> None:
    """Text over the 1024-character caption limit arrives first, then the bare image."""
    rendered = render_response(USER, {"text": "a " * 600, "image": "https://cdn.example.com/l.png"})
    assert [p["type"] for p in rendered.payloads] == ["text", "image"]
    assert "caption" not in rendered.payloads[1]["image"]


def test_attachment_becomes_a_named_document() -> None:
    """An attachment URL arrives as a document named after the file."""
    [message] = render_response(USER, {"attachment": "https://cdn.example.com/inv/4521.pdf"}).payloads
    assert message["document"] == {"link": "https://cdn.example.com/inv/4521.pdf", "filename": "4521.pdf"}


def test_custom_template_is_sent_to_the_same_user_only() -> None:
    """A custom template is passed through, addressed to this user even if it names another number."""
    template = {"name": "order_ready_for_pickup", "language": {"code": "en_US"}}
    [message] = render_response(USER, {"custom": {"type": "template", "to": "+15550009999",
                                                  "template": template}}).payloads
    assert message == {"messaging_product": "whatsapp", "recipient_type": "individual",
                       "to": "+919800000001", "type": "template", "template": template}


def test_custom_without_a_whatsapp_type_is_reported_not_sent() -> None:
    """A custom payload meant for another channel is skipped and reported for the log."""
    rendered = render_response(USER, {"text": "Hi", "custom": {"blocks": []}})
    assert [p["type"] for p in rendered.payloads] == ["text"] and rendered.skipped == ("custom",)


def test_reply_quotes_the_user_message_once() -> None:
    """When replying to a wamid only the first bubble quotes it."""
    rendered = render_response(USER, {"text": "a\n\n" + "b " * 3000}, reply_to="wamid.IN")
    assert rendered.payloads[0]["context"] == {"message_id": "wamid.IN"}
    assert all("context" not in p for p in rendered.payloads[1:])


@pytest.mark.parametrize("recipient", ["919800000001", "+91 98000-00001", "(91) 9800000001"],
                         ids=["digits", "formatted", "brackets"])
def test_recipient_always_gets_plus_and_country_code(recipient: str) -> None:
    """Messages go to "+<digits>" so Meta never prepends our own country code."""
    assert render_response(recipient, {"text": "hi"}).payloads[0]["to"] == "+919800000001"


def test_empty_response_sends_nothing() -> None:
    """A response with nothing WhatsApp can show renders no messages."""
    assert render_response(USER, {"text": "  "}) == Rendered([], {}, ())


ACCEPTANCE_CASES = {
    "text": {"text": "Hello"},
    "text_10k": {"text": "\n\n".join(["para " * 150] * 14)},
    "unbroken_10k": {"text": "y" * 10_000},
    "emoji_text": {"text": "Ol\u00e1 \U0001f60a\U0001f44d\U0001f3fd " * 600},
    "3_buttons": {"text": "Pick", "buttons": buttons(3)},
    "3_long_buttons": {"text": "Pick", "buttons": buttons(3, title="A very very long button title {i}")},
    "buttons_no_text": {"text": "", "buttons": buttons(2)},
    "buttons_long_text": {"text": "z " * 3000, "buttons": buttons(3)},
    "buttons_empty_titles": {"text": "Pick", "buttons": [{"title": "", "payload": "/a"}, {"payload": "/b"}]},
    "buttons_long_payload": {"text": "Pick", "buttons": buttons(3, payload="/p{i}" + "q" * 400)},
    "buttons_padded_payload": {"text": "Pick", "buttons": buttons(2, payload=" /p{i} ")},
    "5_rows": {"text": "Menu", "buttons": buttons(5)},
    "10_long_rows": {"text": "Menu", "buttons": buttons(10, title="Check Order Status and Delivery Date {i}")},
    "rows_long_payload": {"text": "Menu", "buttons": buttons(6, payload="/p{i}" + "q" * 210)},
    "rows_long_text": {"text": "w " * 2100, "buttons": buttons(6)},
    "12_numbered": {"text": "Pick", "buttons": buttons(12)},
    "image_caption": {"text": "Caption", "image": "https://cdn.example.com/a.png"},
    "image_long_text": {"text": "c " * 700, "image": "https://cdn.example.com/a.png"},
    "image_media_id": {"image": "1288741093374015"},
    "attachment": {"attachment": "https://cdn.example.com/a.pdf"},
    "attachment_dict": {"attachment": {"type": "video", "url": "https://cdn.example.com/a.mp4"}},
    "template": {"custom": {"type": "template", "template": {"name": "t", "language": {"code": "en_US"}}}},
    "everything": {"text": "Hi", "buttons": buttons(4), "image": "https://cdn.example.com/a.png",
                   "attachment": "https://cdn.example.com/a.pdf"},
}


@pytest.mark.parametrize("message", list(ACCEPTANCE_CASES.values()), ids=list(ACCEPTANCE_CASES))
def test_every_rendered_payload_is_accepted_by_the_graph_rules(message: dict[str, Any]) -> None:
    """Whatever the assistant says, each rendered message passes the checks the fake Graph API applies."""
    rendered = render_response(USER, message, reply_to="wamid.HBgMOTE5ODAwMDAwMDAx")
    assert rendered.payloads
    assert [validate_message(p) for p in rendered.payloads] == [None] * len(rendered.payloads)


def test_missing_title_never_shows_the_payload() -> None:
    """A button without a title shows only its number, never its payload."""
    rendered = render_response(USER, {"text": "?", "buttons": [{"payload": "/secret_intent"},
                                                               {"title": "No", "payload": "/deny"}]})
    assert titles(rendered.payloads[0]) == ["1.", "2. No"]
    assert rendered.choices["1"] == "/secret_intent"
