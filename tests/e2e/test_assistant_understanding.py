"""Customers as they really write, over REST: Hinglish, Hindi, requests the bot cannot fulfil, asking back."""
from __future__ import annotations

import pytest

from actions.clarify import ASK_TEXT

ASHA = "919800000001"
PERSON = "Would you like to talk to a person now?"
DEFECT_ORDER_QUESTION = "Which order is the defect on?"
DEFECT_DESCRIPTION_QUESTION = "What is wrong?"


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


@pytest.mark.parametrize("said", ["maal kharab aaya hai", "माल खराब आया है", "the shirts you sent are torn"])
def test_a_complaint_about_the_goods_starts_a_defect_report_and_keeps_what_was_said(chat, said):
    """"The goods arrived damaged" in any script opens the defect report at the order, not the greeting."""
    replies = chat(ASHA).say(said)
    assert DEFECT_ORDER_QUESTION in texts(replies)
    assert "How can I help you today?" not in texts(replies)


def test_a_complaint_with_an_order_id_skips_both_questions(chat):
    """"colour is not matching in ORD-10001" fills the order and the description at once."""
    reply = texts(chat(ASHA).say("colour is not matching in ORD-10001"))
    assert DEFECT_ORDER_QUESTION not in reply and DEFECT_DESCRIPTION_QUESTION not in reply
    assert "photo" in reply.lower()


@pytest.mark.parametrize("said, answer", [
    ("send me the invoice for ORD-10002", "I don't have the invoice for ORD-10002 here yet."),
    ("I want to cancel my order ORD-10002", "Cancelling or changing an order"),
    ("what is the price of 40s yarn", "Prices depend on the count or quality"),
    ("ORD-10005 ka test certificate bhejo", "I don't have the test certificate for ORD-10005 here yet."),
    ("मेरा ऑर्डर कैंसिल कर दो", "Cancelling or changing an order"),
])
def test_what_the_bot_cannot_do_gets_what_happens_next_and_a_person(chat, said, answer):
    """Documents, cancellations and prices are explained honestly with the offer of a person."""
    replies = chat(ASHA).say(said)
    assert texts(replies).startswith(answer)
    assert replies[-1]["text"] == PERSON and [b["title"] for b in replies[-1]["buttons"]] == ["Yes, a person",
                                                                                               "No, thanks"]


@pytest.mark.parametrize("said", ["मेरा ऑर्डर कहाँ है", "mera order kahan hai"])
def test_where_is_my_order_in_hindi_and_hinglish_answers_about_orders(chat, said):
    """Both scripts reach the orders, not "Sorry, I didn't understand"."""
    reply = texts(chat(ASHA).say(said))
    assert "ORD-" in reply and "Sorry" not in reply


def test_an_unclear_message_is_asked_back_and_the_second_gets_the_menu(chat):
    """Unsure twice: first "did you mean" with the likely options and Something else, then the menu and a person."""
    me = chat(ASHA)
    first = me.say("regarding material")  # about the goods, most likely a defect, but it does not say what
    assert first[0]["text"] == ASK_TEXT and first[0]["buttons"][-1]["title"] == "Something else"
    assert "Report a defect" in [b["title"] for b in first[0]["buttons"]]
    second = me.say("/nlu_fallback")
    assert second[0]["text"].startswith("Sorry, I didn't understand that.") and "agent" in second[0]["text"]
    assert [b["title"] for b in second[-1]["buttons"]][0] == "Check Order Status"


def test_an_unclear_message_with_nothing_likely_gets_the_menu_at_once(chat):
    """No option worth offering: the menu and the way to a person, not "Did you mean: Something else"."""
    replies = chat(ASHA).say("/nlu_fallback")
    assert replies[0]["text"].startswith("Sorry, I didn't understand that.") and "agent" in replies[0]["text"]
    assert [b["title"] for b in replies[-1]["buttons"]][0] == "Check Order Status"
