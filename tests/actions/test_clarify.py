"""Asking back: "Did you mean …?" options from the NLU's ranking, the menu the second time, and form hints."""
from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.clarify import ASK_TEXT, ActionClarify, ActionFormHint, clarify_options
from actions.forms import ISSUE_CONTENT_WORDS, answer_in, content_words, description_in

ASHA = "919800000001"


def parse(ranking: list[tuple[str, float]], **extra) -> dict:
    """Return a parse as Rasa's FallbackClassifier leaves it: nlu_fallback first, the ranking after."""
    intents = [{"name": "nlu_fallback", "confidence": 0.45}] + [{"name": n, "confidence": c} for n, c in ranking]
    return {"text": extra.pop("text", "something"), "intent": intents[0], "intent_ranking": intents,
            "entities": extra.pop("entities", []), **extra}


def tracker(latest: dict, events: list[dict] | None = None, slots: dict | None = None) -> Tracker:
    return Tracker(ASHA, slots or {}, latest, events or [], False, None, {}, "action_listen")


def test_the_three_likeliest_intents_are_offered_with_something_else():
    """An unsure parse offers its three likeliest intents by name, then "Something else"."""
    options = clarify_options(parse([("track_order", 0.4), ("change_order", 0.3), ("greet", 0.1),
                                     ("request_document", 0.1), ("price_quote", 0.05)]))
    assert [o["title"] for o in options] == ["Track an order", "Cancel/change order", "Invoice/documents",
                                             "Something else"]
    assert [o["payload"] for o in options] == ["/track_order", "/change_order", "/request_document", "/menu_main"]
    assert all(len(o["title"]) <= 20 for o in options)  # fits a WhatsApp reply button


def test_an_order_id_in_the_message_travels_with_each_option():
    """A tap on an option keeps the order id the customer typed."""
    entities = [{"entity": "order_id", "value": "ORD-10001", "start": 10, "end": 19}]
    [first, *_] = clarify_options(parse([("request_document", 0.5)], entities=entities))
    assert first["payload"] == '/request_document{"order_id":"ORD-10001"}'


def test_an_faq_option_asks_the_topic_the_selector_ranked_first():
    """An unsure FAQ offers the likeliest topic's question, as the FAQ menu's button does."""
    selector = {"faq": {"ranking": [{"intent_response_key": "faq/samples", "confidence": 0.4}]}}
    [first, *_] = clarify_options(parse([("faq", 0.6)], response_selector=selector))
    assert first == {"title": "Samples", "payload": "Can I get samples?"}


def test_weak_and_unofferable_intents_are_left_out():
    """Greetings, yes/no and intents the classifier barely supports are never offered."""
    options = clarify_options(parse([("greet", 0.5), ("affirm", 0.3), ("track_order", 0.02)]))
    assert options == [{"title": "Something else", "payload": "/menu_main"}]


@pytest.mark.asyncio
async def test_first_unclear_message_asks_did_you_mean():
    """The first unclear message gets the question with buttons."""
    dispatcher = CollectingDispatcher()
    latest = parse([("price_quote", 0.4), ("faq", 0.3)])
    await ActionClarify().run(dispatcher, tracker(latest, [{"event": "user", "text": "x"}]), {})
    [message] = dispatcher.messages
    assert message["text"] == ASK_TEXT and message["buttons"][0]["title"] == "Prices & quotes"


@pytest.mark.asyncio
@pytest.mark.parametrize("requested, hint", [("defect_order_id", "Sorry, I didn't catch which order."),
                                             ("defect_photo", "I was expecting a photo of the defect."),
                                             ("defect_description", None)])
async def test_an_unclear_answer_in_the_defect_form_gets_a_hint_for_that_step(requested, hint):
    """Inside the form the hint names what the step waits for; a free-text step needs none."""
    dispatcher = CollectingDispatcher()
    await ActionFormHint().run(dispatcher, tracker(parse([]), slots={"requested_slot": requested}), {})
    assert [m["text"] for m in dispatcher.messages] == ([hint] if hint else [])


@pytest.mark.parametrize("message, described", [
    ({"text": "colour is not matching in ORD-10001", "intent": {"name": "report_defect"},
      "entities": [{"entity": "order_id", "start": 26, "end": 35, "value": "ORD-10001"}]},
     "colour is not matching in ORD-10001"),
    ({"text": "the shirts you sent are torn", "intent": {"name": "report_defect"}, "entities": []},
     "the shirts you sent are torn"),
    ({"text": "ORD-10001 pls", "intent": {"name": "report_defect"},
      "entities": [{"entity": "order_id", "start": 0, "end": 9, "value": "ORD-10001"}]}, None),
    ({"text": "/report_defect", "intent": {"name": "report_defect"}, "entities": []}, None),
    ({"text": "where is my order ORD-10001 now", "intent": {"name": "track_order"}, "entities": []}, None),
])
def test_a_complaint_that_says_what_is_wrong_is_kept_as_the_description(message, described):
    """A defect complaint with detail beyond the order id is its description; an id or a tap is not."""
    assert description_in(message) == described


@pytest.mark.parametrize("text, intent, confidence, answer", [
    ("20 cones have water stains", "report_defect", 0.98, "20 cones have water stains"),
    ("kuch samajh nahi aa raha bas kharab hai", "nlu_fallback", 0.4, "kuch samajh nahi aa raha bas kharab hai"),
    ("I want to become a dealer, who should I call?", "contact_support", 0.57,
     "I want to become a dealer, who should I call?"),
    ("aaj ka schedule kya hai", "schedule_today", 1.0, None),
    ("mujhe kisi insaan se baat karni hai", "human_handoff", 1.0, None),
    ("/menu_orders", "menu_orders", 1.0, None),
    ("cancel", "cancel", 0.5, None),
    ("   ", "report_defect", 0.9, None),
])
def test_a_free_text_answer_is_taken_unless_it_leaves_or_is_surely_another_question(text, intent, confidence, answer):
    """Where a form asks what is wrong, a confident question about something else is not the answer."""
    assert answer_in({"text": text, "intent": {"name": intent, "confidence": confidence}}) == answer


@pytest.mark.parametrize("text, told", [
    ("mujhe ek complaint karni hai billing ke baare me", False),
    ("I want to register a complaint about delivery", False),
    ("मुझे बिलिंग के बारे में शिकायत करनी है", False),
    ("invoice mein GST number galat hai", True),
    ("GST galat laga hai invoice pe, 18% ki jagah 12 hona chahiye tha", True),
    ("बिल में जीएसटी गलत लगा है", True),
])
def test_an_issue_is_told_when_more_than_its_topic_is_said(text, told):
    """Announcing a complaint and its topic is not yet the issue; saying what is wrong is, in any language."""
    assert (content_words(text) >= ISSUE_CONTENT_WORDS) is told


@pytest.mark.asyncio
async def test_an_unclear_message_with_nothing_likely_gets_the_menu_not_an_empty_question():
    """ "who won the match" has no option worth offering: the customer gets the menu, not "Did you mean: Something else"."""
    dispatcher = CollectingDispatcher()
    latest = parse([("out_of_scope", 0.35), ("greet", 0.3), ("track_order", 0.01)])
    await ActionClarify().run(dispatcher, tracker(latest, [{"event": "user", "text": "x"}]), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_default", "utter_main_menu"]
