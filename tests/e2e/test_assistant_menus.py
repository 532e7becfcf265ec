"""Every menu path answers the same whether the user taps, types the number, types the title or just asks."""
from __future__ import annotations

import json
import re

import pytest

ASHA = "919800000001"

MAIN = ["Check Order Status", "Report Defect", "View Production Schedule", "Get Help & Support", "Back to Menu"]
ORDERS = ["View recent orders", "Track specific order", "Check estimated delivery", "Documents",
          "Back to Menu"]
DEFECTS = ["Report a defect", "View defect history", "Track defect resolution", "Back to Menu"]
SCHEDULE = ["Today's schedule", "This week's schedule", "Production status", "Back to Menu"]
HELP = ["FAQs", "Contact Support", "Report Issue", "Back to Menu"]
FAQ = [
    "Payment terms", "Minimum order quantity", "Shipping", "Returns", "Certifications",
    "Samples", "Working hours", "Lead times", "Back to Menu",
]


def last_buttons(replies: list[dict]) -> list[str]:
    """Return the titles of the last reply that offered buttons (what the user can tap now)."""
    offered = [r["buttons"] for r in replies if r.get("buttons")]
    return [b["title"] for b in offered[-1]] if offered else []


def joined(replies: list[dict]) -> str:
    """Return every text the user reads in these replies."""
    return "\n".join(r.get("text", "") for r in replies)


# (menu it starts from, tap payload, option number, option title, what the user reads, menu shown after)
LEAVES = [
    ("/menu_main", "/menu_orders", 1, "Check Order Status", "*Orders* — what would you like to do?", ORDERS),
    ("/menu_main", "/menu_defects", 2, "Report Defect", "*Defects* — what would you like to do?", DEFECTS),
    ("/menu_main", "/menu_schedule", 3, "View Production Schedule", "*Production schedule*", SCHEDULE),
    ("/menu_main", "/menu_support", 4, "Get Help & Support", "*Help & support*", HELP),
    ("/menu_main", "/menu_main", 5, "Back to Menu", "How can I help you today?", MAIN),
    ("/menu_orders", "/view_recent_orders", 1, "View recent orders", "Your recent orders (1–5 of 7)", None),
    ("/menu_orders", "/track_order", 2, "Track specific order", "Which order?", None),
    ("/menu_orders", "/delivery_estimate", 3, "Check estimated delivery", "Delivery for which order?", None),
    ("/menu_orders", "/request_document", 4, "Documents", "Which order do you need a document for?",
     None),
    ("/menu_orders", "/menu_main", 5, "Back to Menu", "How can I help you today?", MAIN),
    ("/menu_defects", "/report_defect", 1, "Report a defect", "Which order is the defect on?", None),
    ("/menu_defects", "/defect_history", 2, "View defect history", "Your defect reports", None),
    ("/menu_defects", "/track_defect", 3, "Track defect resolution", "Which report?", None),
    ("/menu_defects", "/menu_main", 4, "Back to Menu", "How can I help you today?", MAIN),
    ("/menu_schedule", "/schedule_today", 1, "Today's schedule", "1 run for your orders today", None),
    ("/menu_schedule", "/schedule_week", 2, "This week's schedule", "4 runs for your orders in the next 7 days", None),
    ("/menu_schedule", "/production_status", 3, "Production status", "Your orders in production now", None),
    ("/menu_schedule", "/menu_main", 4, "Back to Menu", "How can I help you today?", MAIN),
    ("/menu_support", "/menu_faq", 1, "FAQs", "*FAQs* — pick a topic", FAQ),
    ("/menu_support", "/contact_support", 2, "Contact Support", "📞 +91 261 400 0000", ["Yes, a person", "No, thanks"]),
    ("/menu_support", "/report_issue", 3, "Report Issue", "Please describe the issue", None),
    ("/menu_support", "/menu_main", 4, "Back to Menu", "How can I help you today?", MAIN),
]
LEAF_IDS = [f"{menu[6:]}-{number}" for menu, _, number, *_ in LEAVES]

# Facts only the right answer contains, so a wrong leaf with a similar header still fails.
FACTS = {
    "/view_recent_orders": ["ORD-10006", "Reply *MORE* for the next 2"],
    "/track_order": ["ORD-10001 · shipped"],
    "/delivery_estimate": ["ORD-10002 · in production"],
    "/report_defect": ["ORD-10001 · Cotton yarn 40s"],
    "/defect_history": ["DEF-0001", "under investigation"],
    "/track_defect": ["DEF-0002 · resolved"],
    "/schedule_today": ["Polyester fabric roll (ORD-10002)"],
    "/schedule_week": ["Viscose blend yarn (ORD-10005)"],
    "/production_status": ["*66%* Polyester fabric roll for ORD-10002"],
    "/contact_support": ["support@acme-manufacturing.example", "Mon–Sat 9:00–18:00 IST", "talk to a person"],
    "/report_issue": ["Type *cancel* to stop"],
    "/request_document": ["ORD-10001 · Cotton yarn 40s"],
}


def assert_leaf(replies: list[dict], payload: str, reads: str, menu_after) -> None:
    text = joined(replies)
    assert reads in text
    for fact in FACTS.get(payload, []):
        assert fact in text + "\n" + "\n".join(last_buttons(replies))
    if menu_after is not None:
        assert last_buttons(replies) == menu_after


@pytest.mark.parametrize("menu, payload, number, title, reads, menu_after", LEAVES, ids=LEAF_IDS)
def test_tapping_an_option_opens_it(chat, menu, payload, number, title, reads, menu_after):
    """Tapping an option (its payload arrives) shows that option's answer or menu."""
    me = chat(ASHA)
    me.say(menu)
    assert_leaf(me.say(payload), payload, reads, menu_after)


@pytest.mark.parametrize("menu, payload, number, title, reads, menu_after", LEAVES, ids=LEAF_IDS)
def test_typing_an_option_number_opens_it(chat, menu, payload, number, title, reads, menu_after):
    """Typing an option's number after a menu does what tapping that option does."""
    me = chat(ASHA)
    me.say(menu)
    assert_leaf(me.say(str(number)), payload, reads, menu_after)


@pytest.mark.parametrize("menu, payload, number, title, reads, menu_after", LEAVES, ids=LEAF_IDS)
def test_typing_an_option_title_opens_it(chat, menu, payload, number, title, reads, menu_after):
    """Typing an option's title after a menu does what tapping that option does."""
    me = chat(ASHA)
    me.say(menu)
    assert_leaf(me.say(title), payload, reads, menu_after)


@pytest.mark.parametrize(
    "steps, reads, menu_after",
    [
        (["hi", "1"], "*Orders*", ORDERS),
        (["hi", "1", "2"], "Which order?", None),
        (["hi", "2", "2"], "Your defect reports", None),
        (["hi", "3", "1"], "1 run for your orders today", None),
        (["hi", "4", "1", "3"], "Shipping: by road anywhere in India", None),
    ],
    ids=["1-orders", "1-2-track", "2-2-defect-history", "3-1-today", "4-1-3-shipping-faq"],
)
def test_numbers_walk_down_from_the_main_menu(chat, steps, reads, menu_after):
    """A chain of typed numbers from "hi" reaches the same leaf as the taps would."""
    me = chat(ASHA)
    for step in steps[:-1]:
        me.say(step)
    replies = me.say(steps[-1])
    assert reads in joined(replies)
    if menu_after is not None:
        assert last_buttons(replies) == menu_after


@pytest.mark.parametrize("typed", ["option 2", "2.", "I choose 2", "2️⃣"])
def test_a_number_in_other_words_is_still_a_choice(chat, typed):
    """"option 2", "2.", "I choose 2" and the keycap emoji all pick the 2nd main-menu option."""
    me = chat(ASHA)
    me.say("hi")
    assert last_buttons(me.say(typed)) == DEFECTS


@pytest.mark.parametrize(
    "number, answer",
    [
        (1, "Payment terms: 30% advance"),
        (2, "MOQ: 500 kg"),
        (3, "Shipping: by road anywhere in India"),
        (4, "Returns: raise it within 7 days"),
        (5, "Certifications: ISO 9001:2015"),
        (6, "Samples: free up to 1 kg"),
        (7, "Working hours: Mon-Sat"),
        (8, "Lead times: 2-3 weeks"),
    ],
    ids=[t.lower().replace(" ", "-") for t in FAQ[:8]],
)
def test_faq_topics_answer_by_number(chat, number, answer):
    """After the FAQ menu, a topic's number gives that topic's answer."""
    me = chat(ASHA)
    me.say("/menu_faq")
    assert me.text(str(number)).startswith(answer)


@pytest.mark.parametrize(
    "question, answer",
    [
        ("What are your payment terms?", "Payment terms:"),
        ("how do u ship orders", "Shipping:"),
        ("can i get samples", "Samples:"),
    ],
)
def test_faq_questions_answer_when_typed(chat, question, answer):
    """A typed FAQ question gets its answer without opening any menu."""
    assert chat(ASHA).text(question).startswith(answer)


@pytest.mark.parametrize(
    "menu, typed, reads",
    [
        ("/menu_schedule", "where is my order ORD-10001", "*ORD-10001* is *shipped 🚚*"),
        ("/menu_orders", "what's being produced today", "1 run for your orders today"),
        ("/menu_support", "ord 10002", "*ORD-10002* is *in production 🏭*"),
        ("/menu_faq", "when will ORD-10002 arrive", "*ORD-10002*: Expected delivery"),
        ("/menu_orders", "status of def 1", "*DEF-0001* is *under investigation*"),
        ("/menu_defects", "production status", "Your orders in production now"),
        ("/menu_schedule", "show my recent orders", "Your recent orders (1–5 of 7)"),
    ],
    ids=["order-from-schedule", "today-from-orders", "spaced-id-from-help", "delivery-from-faq",
         "defect-from-orders", "status-from-defects", "recent-from-schedule"],
)
def test_free_text_reaches_the_answer_from_any_menu(chat, menu, typed, reads):
    """A question typed while another menu is open answers that question straight away."""
    me = chat(ASHA)
    me.say(menu)
    assert reads in me.text(typed)


@pytest.mark.parametrize(
    "menu, typed, size, titles",
    [
        ("/menu_main", "6", 5, MAIN),
        ("/menu_orders", "6", 5, ORDERS),
        ("/menu_defects", "9", 4, DEFECTS),
        ("/menu_schedule", "7", 4, SCHEDULE),
        ("/menu_support", "5", 4, HELP),
        ("/menu_faq", "10", 9, FAQ),
    ],
    ids=["main", "orders", "defects", "schedule", "help", "faq"],
)
def test_a_number_out_of_range_gets_the_same_menu_again(chat, menu, typed, size, titles):
    """A number the menu does not offer gets "Please choose a number from 1 to N" and that menu again."""
    me = chat(ASHA)
    me.say(menu)
    replies = me.say(typed)
    assert replies[0]["text"] == f"Please choose a number from 1 to {size}."
    assert last_buttons(replies) == titles


def test_a_number_with_no_menu_open_shows_the_main_menu(chat):
    """A number sent before any menu was shown explains that and offers the main menu."""
    replies = chat(ASHA).say("3")
    assert "There's no numbered list open right now." in joined(replies)
    assert last_buttons(replies) == MAIN


CODE_LEFTOVERS = re.compile(r"\bNone\b|\bnull\b|(^|\s)/[a-z_]+|[{}]|\[\]|<[A-Za-z_.]+ object|\\n|datetime\.")

EVERY_ANSWER = [
    ["hi"], ["/view_recent_orders", "MORE"], ["ORD-10001"], ["ORD-10004"], ["ORD-10006"], ["ORD-10008"],
    [f"/delivery_estimate{json.dumps({'order_id': 'ORD-10004'})}"],
    [f"/delivery_estimate{json.dumps({'order_id': 'ORD-10008'})}"],
    ["/defect_history"], ["DEF-0001"], ["DEF-0002"], ["/schedule_today"], ["/schedule_week"],
    ["/production_status"], ["/contact_support", "yes"], ["/report_defect", "1", "cones are wet and stained", "skip"],
    ["send me the invoice for ORD-10001"], ["ORD-10002 ka bill bhejo"], ["/request_document", "1", "3"],
]


@pytest.mark.parametrize("steps", EVERY_ANSWER, ids=[" ".join(s)[:40] for s in EVERY_ANSWER])
def test_no_answer_shows_code_or_empty_values(chat, steps):
    """No text the user reads contains a payload, a Python value like None, braces or an escaped newline."""
    me = chat(ASHA)
    for step in steps:
        text = joined(me.say(step))
        assert text.strip()
        assert not CODE_LEFTOVERS.search(text), text


@pytest.mark.parametrize("asked", ["/schedule_today", "/schedule_week", "/production_status"])
def test_a_schedule_answer_arrives_as_one_message(chat, asked):
    """A schedule answer is one chat bubble, not one bubble per production run."""
    me = chat("919800000009")
    replies = me.say(asked)
    assert len(replies) == 1
    assert replies[0]["text"].count("\n• ") >= 3
