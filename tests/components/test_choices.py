"""A typed number picks the same option a tap would, wherever the user types it."""
from __future__ import annotations

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered

from components.choices import choice_span, last_offer, parse_choice, payload_for

MENU = [{"title": t, "payload": f"/{p}"} for t, p in [("Orders", "menu_orders"), ("Defects", "menu_defects"), ("Back", "menu_main")]]


@pytest.mark.parametrize(
    "text, option",
    [
        ("2", 2), ("option 2", 2), ("2.", 2), ("I choose 2", 2), ("no. 3", 3), ("#4", 4), ("3)", 3),
        ("number 5", 5), ("opt 1", 1), ("2️⃣", 2), ("2 pls", 2), ("option no 5", 5), ("4 is my choice", 4),
        ("  7 ", 7), ("12", 12), ("no. 3 pls", 3), ("option\n\n  2", 2), ("i\u200b 2", 2),
    ],
)
def test_choice_phrasings_give_the_number(text, option):
    """Every way people type a choice on WhatsApp yields the option number."""
    assert parse_choice(text) == option


@pytest.mark.parametrize("text, option", [("२", 2), ("option ३", 3), ("१२", 12), ("२ pls", 2), ("#४", 4)])
def test_devanagari_digits_are_option_numbers(text, option):
    """A number typed with a Hindi keyboard's digits picks the same option as ASCII digits."""
    assert parse_choice(text) == option


@pytest.mark.parametrize("text, span", [("२", (0, 1)), ("option ३", (7, 8)), ("  12 pls", (2, 4)), ("2️⃣", (0, 1))])
def test_the_span_points_at_the_number_in_the_text_as_typed(text, span):
    """The option entity's span covers the digits in the message as the user sent it."""
    assert choice_span(text) == span


@pytest.mark.parametrize("text", ["10001", "ORD-10001", "ord 2", "0", "I need 50 pieces", "track 3", "", "two", "२०००१", "०", "2.5"])
def test_non_choices_are_not_numbers(text):
    """Ids, quantities and sentences are never read as a menu choice."""
    assert parse_choice(text) is None


def test_the_last_bot_message_with_buttons_is_the_menu():
    """A number refers to the newest message that offered buttons, even after plain replies."""
    events = [
        BotUttered("Old", {"buttons": [{"title": "X", "payload": "/x"}]}),
        UserUttered("hi"),
        BotUttered("Menu", {"buttons": MENU}),
        BotUttered("plain reply without buttons"),
    ]
    assert last_offer(events, {}) == ("Menu", MENU)
    assert payload_for(MENU, 2) == "/menu_defects"
    assert payload_for(MENU, 4) is None


def test_a_new_session_forgets_old_menus():
    """After a session restarts, an old menu's numbers no longer apply."""
    events = [BotUttered("Menu", {"buttons": MENU}), SessionStarted(), ActionExecuted("action_listen")]
    assert last_offer(events, {}) == ("", [])


def test_action_server_json_events_work_too():
    """The action server sees events as JSON dicts and finds the same menu."""
    events = [{"event": "bot", "text": "Menu", "data": {"buttons": MENU}}, {"event": "user", "text": "9"}]
    assert last_offer(events, {}) == ("Menu", MENU)


def test_in_rasa_test_an_utter_action_stands_for_its_buttons():
    """Without bot messages (rasa test), the executed menu response supplies the buttons."""
    responses = {"utter_main_menu": [{"text": "How can I help?", "buttons": MENU}]}
    assert last_offer([ActionExecuted("utter_main_menu")], responses) == ("How can I help?", MENU)
