"""Multi-step flows over REST: the defect report, report issue, contact support, paging and small talk."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from database import defects, session
from database.models import SupportTicket

ASHA = "919800000001"
MAIN = ["Check Order Status", "Report Defect", "View Production Schedule", "Get Help & Support", "Back to Menu"]
DESCRIPTION = "20 cones have water stains on the outer layer"
CANCELLED = "Cancelled — nothing was saved."


def last_buttons(replies: list[dict]) -> list[dict]:
    """Return the buttons of the last reply that offered some."""
    offered = [r["buttons"] for r in replies if r.get("buttons")]
    return offered[-1] if offered else []


def titles(replies: list[dict]) -> list[str]:
    return [b["title"] for b in last_buttons(replies)]


def joined(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


@pytest.fixture
def records(stack, monkeypatch):
    """Read the stack's database from the test process, as the action server sees it."""
    monkeypatch.setenv("DATABASE_URL", stack.db_url)
    session.reset_engine()
    yield
    session.reset_engine()


def tickets_from(wa_id: str) -> list[SupportTicket]:
    with session.sessions()() as db:
        return list(db.scalars(select(SupportTicket).where(SupportTicket.wa_id == wa_id)))


# How to reach each question of the defect form from a fresh chat, and what it asks there.
FORM_STEPS = {
    "order": (["/menu_defects", "1"], "Which order is the defect on?"),
    "description": (["/menu_defects", "1", "2"], "What is wrong?"),
    "photo": (["/menu_defects", "1", "2", DESCRIPTION], "Please send a photo of the defect"),
    "confirm": (["/menu_defects", "1", "2", DESCRIPTION, "skip"], "Please check your defect report"),
}


def open_form_at(me, step: str) -> None:
    steps, asks = FORM_STEPS[step]
    for message in steps[:-1]:
        me.say(message)
    assert asks in me.text(steps[-1])


@pytest.mark.parametrize("confirm", ["1", "yes"])
def test_a_defect_report_is_filed_and_can_be_tracked(chat, records, confirm):
    """Choosing the 2nd offered order by number, a re-asked description, skip and confirm files a new DEF id."""
    me = chat(ASHA)
    before = defects.count_defects(ASHA)
    me.say("/menu_defects")
    offered = last_buttons(me.say("1"))
    chosen = json.loads(offered[1]["payload"].removeprefix("/inform"))["order_id"]
    assert offered[1]["title"].startswith(chosen)

    assert me.text("2").startswith("What is wrong?")
    re_asked = me.say("bad")
    assert re_asked[0]["text"].startswith("Please add a little more detail")
    assert re_asked[-1]["text"].startswith("What is wrong?")
    photo = me.say(DESCRIPTION)
    assert photo[-1]["text"].startswith("Please send a photo") and titles(photo) == ["Skip"]
    summary = me.say("skip")
    assert (
        f"Order: *{chosen}*\nProblem: {DESCRIPTION}\nPhoto: none" in joined(summary)
        and titles(summary) == ["Submit", "Cancel"]
    )

    done = me.text(confirm)
    match = re.match(rf"✅ Defect \*(DEF-\d{{4}})\* logged for {chosen}\.", done)
    assert match, done
    ref = match.group(1)
    assert defects.count_defects(ASHA) == before + 1
    saved = defects.find_defect(ASHA, ref)
    assert (saved.order_ref, saved.description, saved.photo_ref, saved.status) == (chosen, DESCRIPTION, None, "open")

    tracked = me.text(ref)
    assert tracked.startswith(f"*{ref}* is *open* 🟠")
    assert f"Order {chosen}: {DESCRIPTION}" in tracked and "Reported today" in tracked
    assert ref in me.text("/defect_history")


def test_tracking_a_defect_with_a_photo_says_it_is_attached(chat):
    """A tracked report with a photo says so, without showing the stored media reference."""
    text = chat(ASHA).text("DEF-0001")
    assert text.startswith("*DEF-0001* is *under investigation* 🔎")
    assert "Photo attached 📎" in text and "demo-media" not in text


@pytest.mark.parametrize("leave", ["cancel", "menu"])
@pytest.mark.parametrize("step", list(FORM_STEPS))
def test_leaving_the_defect_form_saves_nothing(chat, records, step, leave):
    """"cancel" or "menu" at any question ends the report, shows the main menu and files nothing."""
    me = chat(ASHA)
    before = defects.count_defects(ASHA)
    open_form_at(me, step)
    replies = me.say(leave)
    assert replies[0]["text"] == CANCELLED
    assert titles(replies) == MAIN
    assert defects.count_defects(ASHA) == before
    # The form is really gone: an order id is now a question about that order.
    assert me.text("ORD-10001").startswith("*ORD-10001* is *shipped")


@pytest.mark.parametrize("decline", ["2", "no"])
def test_declining_the_summary_saves_nothing(chat, records, decline):
    """Answering the summary with Cancel (by number or "no") files nothing."""
    me = chat(ASHA)
    before = defects.count_defects(ASHA)
    open_form_at(me, "confirm")
    assert me.text(decline) == CANCELLED
    assert defects.count_defects(ASHA) == before


def test_a_defect_on_someone_elses_order_is_refused_in_the_form(chat):
    """Typing another customer's order in the defect form is refused like a missing one and re-asked."""
    me = chat(ASHA)
    me.say("/report_defect")
    replies = me.say("ORD-10003")
    assert replies[0]["text"] == "I couldn't find ORD-10003 on your account."
    assert replies[-1]["text"].startswith("Which order is the defect on?")


def test_an_out_of_range_number_in_the_form_is_re_asked_once(chat):
    """A number the order buttons don't have gets the hint and the question once, not twice."""
    me = chat(ASHA)
    me.say("/report_defect")
    replies = me.say("9")
    assert replies[0]["text"] == "Please choose a number from 1 to 5."
    assert [r["text"] for r in replies].count(replies[-1]["text"]) == 1
    assert replies[-1]["text"].startswith("Which order is the defect on?")


@pytest.mark.parametrize(("step", "question", "answer"), [
    ("order", "bhai dispatch kab hoga ORD-10002 ka", "*ORD-10002* is"),
    ("order", "ORD-10001 kab deliver hoga", "*ORD-10001*: Expected delivery"),
    ("description", "ORD-10001 kab deliver hoga", "*ORD-10001*: Expected delivery"),
    ("description", "where is my order ORD-10002?", "*ORD-10002* is"),
])
def test_a_question_inside_the_defect_form_is_answered_and_the_form_asks_again(chat, records, step, question,
                                                                             answer):
    """A question about an order asked mid-report is answered, not taken as the report's order or
    description; the form then asks its question again and goes on from there."""
    me = chat(ASHA)
    before = defects.count_defects(ASHA)
    open_form_at(me, step)
    replies = me.say(question)
    assert answer in replies[0]["text"]
    assert FORM_STEPS[step][1] in replies[-1]["text"]
    following = {"order": "description", "description": "photo"}[step]
    assert FORM_STEPS[following][1] in me.text("1" if step == "order" else DESCRIPTION)
    assert defects.count_defects(ASHA) == before


@pytest.mark.parametrize("more", ["also 5 rolls are torn at the edges", "aur 10 bag phate hue the"])
def test_more_detail_sent_at_a_later_step_is_added_to_the_description(chat, records, more):
    """A complaint sent where the form waits for a photo is added to the report (not "didn't
    understand"), the photo is asked for again, and the summary to submit carries both parts.
    (Cancelled at the end: other tests count Asha's reports.)"""
    me = chat(ASHA)
    open_form_at(me, "photo")
    replies = me.say(more)
    assert replies[0]["text"] == "📝 Added that to the description."
    assert FORM_STEPS["photo"][1] in replies[-1]["text"]
    assert f"Problem: {DESCRIPTION}. {more}\n" in me.text("skip")
    assert me.text("cancel").startswith(CANCELLED)


def test_asking_for_a_person_inside_a_form_ends_it(chat, records):
    """"I want a person" while describing a defect hands over and ends the report: the bot asks
    nothing more and files nothing, and an order id afterwards is a plain question again."""
    me = chat(ASHA)
    before = defects.count_defects(ASHA)
    open_form_at(me, "description")
    replies = me.say("mujhe kisi insaan se baat karni hai")
    assert replies[-1]["text"].startswith("👤 I've asked a colleague to take over this chat.")
    assert not any("Please send a photo" in r.get("text", "") for r in replies)
    assert me.text("ORD-10001").startswith("*ORD-10001* is *shipped")
    assert defects.count_defects(ASHA) == before


def test_report_issue_creates_a_ticket(chat, records):
    """Report Issue re-asks a too-short description and then files a ticket with a TCK id."""
    me = chat(ASHA)
    me.say("/menu_support")
    assert me.text("3").startswith("Please describe the issue")
    assert me.text("inv").startswith("Please tell me a little more")
    issue = "invoice INV-204 shows the wrong GST number"
    reply = me.text(issue)
    match = re.match(r"🎫 Ticket \*(TCK-\d{4})\* created\.", reply)
    assert match, reply
    assert [t.description for t in tickets_from(ASHA) if t.ref == match.group(1)] == [issue]


def test_an_issue_told_in_full_is_filed_without_asking_for_it_again(chat, records):
    """A first message that already says what is wrong with the bill becomes the ticket, quoted back;
    one that only names the topic is asked for the details."""
    me = chat(ASHA)
    issue = "Your last invoice shows 18% GST but our product is under 5%, please correct it"
    reply = me.text(issue)
    match = re.match(r"🎫 Ticket \*(TCK-\d{4})\* created\.", reply)
    assert match, reply
    assert "18% GST" in reply
    assert [t.description for t in tickets_from(ASHA) if t.ref == match.group(1)] == [issue]
    me = chat(ASHA)
    assert me.text("I have a billing complaint").startswith("Please describe the issue")


def test_a_question_while_describing_an_issue_is_answered_not_filed(chat, records):
    """"ORD-10001 kab deliver hoga" asked where the issue form wants a description gets the delivery
    date and the same question again; no ticket is filed from it."""
    me = chat(ASHA)
    before = len(tickets_from(ASHA))
    me.say("/report_issue")
    replies = me.say("ORD-10001 kab deliver hoga")
    assert replies[0]["text"].startswith("*ORD-10001*: Expected delivery")
    assert replies[-1]["text"].startswith("Please describe the issue")
    assert len(tickets_from(ASHA)) == before


def test_cancelling_report_issue_saves_nothing(chat, records):
    """"cancel" while describing an issue files no ticket and shows the main menu."""
    me = chat(ASHA)
    before = len(tickets_from(ASHA))
    me.say("/report_issue")
    replies = me.say("cancel")
    assert replies[0]["text"] == CANCELLED and titles(replies) == MAIN
    assert len(tickets_from(ASHA)) == before


def test_contact_support_shows_contacts_and_offers_a_person(chat):
    """Contact Support shows phone, email and hours, then offers a person."""
    me = chat(ASHA)
    me.say("/menu_support")
    replies = me.say("2")
    text = joined(replies)
    for detail in ("+91 261 400 0000", "support@acme-manufacturing.example", "Mon–Sat 9:00–18:00 IST"):
        assert detail in text
    assert replies[-1]["text"] == "Would you like to talk to a person now?"
    assert titles(replies) == ["Yes, a person", "No, thanks"]


@pytest.mark.parametrize("answer", ["yes", "1"])
def test_saying_yes_to_a_person_hands_over(chat, answer):
    """Yes to the offer of a person tells the user a colleague takes over and how long it takes."""
    me = chat(ASHA)
    me.say("/contact_support")
    reply = me.text(answer)
    assert reply.startswith("👤 I've asked a colleague to take over this chat.")
    assert "about 15 minutes" in reply


def test_saying_no_to_a_person_shows_the_menu(chat):
    """No to the offer of a person goes back to the main menu."""
    me = chat(ASHA)
    me.say("/contact_support")
    assert titles(me.say("no")) == MAIN


def test_more_shows_the_rest_of_the_recent_orders(chat):
    """After View recent orders, MORE shows orders 6-7 of 7, and then there is nothing more."""
    me = chat(ASHA)
    me.say("/menu_orders")
    first = me.say("View recent orders")
    assert "Your recent orders (1–5 of 7)" in joined(first)
    assert "Showing 5 of 7. Reply *MORE* for the next 2." in joined(first)
    second = me.say("MORE")
    text = joined(second)
    assert "Your recent orders (6–7 of 7)" in text
    assert "*ORD-10008* — cancelled" in text and "*ORD-10004* — delivered" in text
    assert "MORE" not in text
    assert [t.split(" · ")[0] for t in titles(second)] == ["ORD-10008", "ORD-10004"]
    assert me.text("more") == "There's nothing more to show. Type *menu* for options."


def test_a_number_after_more_picks_from_the_second_page(chat):
    """"2" after the second page of orders opens the 2nd order on that page."""
    me = chat(ASHA)
    me.say("/view_recent_orders")
    me.say("MORE")
    assert me.text("2").startswith("*ORD-10004* is *delivered ✅*")


@pytest.mark.parametrize(
    "said, answer",
    [
        ("bye", "Goodbye! 👋"),
        ("ok bye, see you", "Goodbye! 👋"),
        ("thanks", "You're welcome! 😊"),
        ("thank you so much", "You're welcome! 😊"),
    ],
)
def test_goodbye_and_thanks_get_a_friendly_close(chat, said, answer):
    """Goodbye and thanks get a short friendly answer."""
    assert chat(ASHA).text(said).startswith(answer)


@pytest.mark.parametrize("said", ["book me a flight", "what's the weather in Mumbai"])
def test_out_of_scope_gets_a_polite_answer_and_the_menu(chat, said):
    """A request the assistant does not handle gets a polite answer and the main menu."""
    replies = chat(ASHA).say(said)
    assert replies[0]["text"].startswith("Sorry, I can only help with your orders")
    assert titles(replies) == MAIN


@pytest.mark.parametrize("said", ["asdkj qwe", "zzzz qqq pppp", "hjkl;' mnbv", "?????"])
def test_gibberish_gets_no_confident_wrong_answer(chat, said):
    """Text nobody could understand gets the polite "can't help" or "didn't understand" with the menu, or a question back."""
    replies = chat(ASHA).say(said)
    first = replies[0]["text"]
    assert first.startswith(("Sorry, I can only help with your orders", "Sorry, I'm not sure",
                             "Sorry, I didn't understand that."))
    assert last_buttons(replies)


def test_an_order_named_by_its_product_is_answered_or_narrowed(chat):
    """"polyester roll" names one of Asha's orders: its status comes at once. "cotton yarn" names two:
    only those two are offered."""
    me = chat(ASHA)
    reply = me.text("we had placed order for polyester roll last month, kindly tell me the status")
    assert reply.startswith("*ORD-10002* is *in production")
    replies = me.say("cotton yarn wala order kab tak aayega")
    assert replies[-1]["text"].startswith("Delivery for which order?")
    assert sorted(t.split(" · ")[0] for t in titles(replies)) == ["ORD-10001", "ORD-10004"]


def test_the_defect_form_takes_the_order_the_customer_names_by_product(chat):
    """A complaint naming one order's product skips "which order?"; at that question "the silk one"
    answers it; words that fit two orders get just those two offered."""
    me = chat(ASHA)
    replies = me.say("polyester roll me 5 piece phate hue the")
    assert replies[-1]["text"].startswith("Please send a photo of the defect")
    assert "Order: *ORD-10002*" in me.text("skip")
    me = chat(ASHA)
    open_form_at(me, "order")
    assert "What is wrong?" in me.text("the silk one")
    me = chat(ASHA)
    open_form_at(me, "order")
    replies = me.say("cotton yarn wale order me")
    assert replies[-1]["text"].startswith("Which order is the defect on?")
    assert sorted(t.split(" · ")[0] for t in titles(replies)) == ["ORD-10001", "ORD-10004"]
