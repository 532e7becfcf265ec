"""Who may see what: each number sees only its company's data, staff see all, strangers see none."""
from __future__ import annotations

import json

import pytest

ASHA = "919800000001"
BHARAT = "919800000002"
STAFF = "919800000009"
STRANGER = "919800000099"

# Anything that would tell Bharat Textiles about Asha Traders: her order and defect ids,
# her name and company, products only she ordered, her carriers, tracking numbers and defect text.
ASHA_MARKERS = [
    "ORD-10001", "ORD-10002", "ORD-10004", "ORD-10005", "ORD-10006", "ORD-10007", "ORD-10008",
    "DEF-0001", "DEF-0002", "Asha", "Polyester fabric roll", "Viscose blend yarn", "Linen fabric roll",
    "Silk blend fabric roll", "Polyester yarn 150D", "Cotton yarn 40s", "Cotton yarn 30s",
    "BlueDart", "BD123456789IN", "Delhivery", "DL987654321IN", "water damage", "wound unevenly",
]
NOT_REGISTERED = "This number isn't registered with us"


def tap(intent: str, **entities: str) -> str:
    """Return the payload a button for `intent` with these entities sends."""
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}" if entities else f"/{intent}"


def everything_shown(replies: list[dict]) -> str:
    """Return all a phone would show or carry for these replies: texts, button titles and payloads."""
    parts = []
    for reply in replies:
        parts.append(reply.get("text", ""))
        for button in reply.get("buttons") or []:
            parts += [button.get("title", ""), button.get("payload", "")]
    return "\n".join(parts)


# (setup messages, the message naming the other customer's id, that id, a missing id of the same kind)
PROBES = [
    ([], "{id}", "ORD-10001", "ORD-19999"),
    ([], "where is my order {id}", "ORD-10002", "ORD-19999"),
    ([], tap("track_order", order_id="{id}"), "ORD-10001", "ORD-19999"),
    ([], tap("delivery_estimate", order_id="{id}"), "ORD-10005", "ORD-19999"),
    (["/menu_orders", "2"], "{id}", "ORD-10001", "ORD-19999"),
    ([], "{id}", "DEF-0001", "DEF-9999"),
    ([], "status of {id}", "DEF-0002", "DEF-9999"),
    ([], tap("track_defect", defect_id="{id}"), "DEF-0001", "DEF-9999"),
    (["/menu_defects", "3"], "{id}", "DEF-0001", "DEF-9999"),
    (["/report_defect"], "{id}", "ORD-10001", "ORD-19999"),
]
PROBE_IDS = [
    "typed-order", "order-in-a-sentence", "tap-track-order", "tap-delivery", "order-after-track-menu",
    "typed-defect", "defect-in-a-sentence", "tap-track-defect", "defect-after-track-menu", "defect-form-order",
]


@pytest.mark.parametrize("setup, template, other, missing", PROBES, ids=PROBE_IDS)
def test_another_customers_id_reads_exactly_like_a_missing_one(chat, setup, template, other, missing):
    """Bharat asking for Asha's order or defect gets word for word the reply for an id that does not exist."""
    def ask(ref: str) -> str:
        me = chat(BHARAT)
        for step in setup:
            me.say(step)
        return everything_shown(me.say(template.replace("{id}", ref)))

    for_other, for_missing = ask(other), ask(missing)
    assert f"I couldn't find {missing} on your account" in for_missing
    assert for_other.replace(other, "<id>") == for_missing.replace(missing, "<id>")


# (what Bharat does, something of his own the answer must show, so an error reply cannot pass).
# Asking for Asha's ids by name echoes the id typed; PROBES covers those replies.
BHARAT_WALKS = [
    (["/view_recent_orders"], "ORD-10003"),
    (["/view_recent_orders", "MORE"], "nothing more to show"),
    (["hi", "1", "1"], "ORD-10003"),
    (["hi", "1", "2"], "ORD-10003 · in production"),
    (["hi", "1", "2", "1"], "Denim fabric 12oz × 1500"),
    (["hi", "1", "3", "1"], "*ORD-10003*: Expected delivery"),
    (["/defect_history"], "DEF-0003"),
    (["hi", "2", "2", "1"], "Sample swatch shade differs"),
    (["/menu_defects", "3"], "DEF-0003 · open"),
    (["/report_defect"], "ORD-10003 · Denim fabric 12oz"),
    (["/schedule_today"], "for your orders today"),
    (["hi", "3", "1"], "for your orders today"),
    (["/schedule_week"], "3 runs for your orders in the next 7 days"),
    (["hi", "3", "2", "MORE"], "nothing more to show"),
    (["/production_status"], "on a production line right now|Your orders in production now"),
    (["hi", "3", "3"], "on a production line right now|Your orders in production now"),
    (["what's being produced today"], "for your orders today"),
    (["hi", "3", "2"], "Denim fabric 12oz (ORD-10003)"),
]
WALK_IDS = [
    "recent-tap", "recent-more", "recent-by-number", "track-menu", "track-by-number", "delivery-by-number",
    "defects-tap", "defect-by-number", "track-defect-menu", "defect-form", "today-tap", "today-by-number",
    "week-tap", "week-more", "status-tap", "status-by-number", "today-free-text", "week-by-number",
]


@pytest.mark.parametrize("steps, own", BHARAT_WALKS, ids=WALK_IDS)
def test_bharat_never_sees_any_of_ashas_data(chat, steps, own):
    """No reply to Bharat, in text or buttons, mentions any of Asha Traders' orders, defects or products."""
    me = chat(BHARAT)
    shown = "\n".join(everything_shown(me.say(step)) for step in steps)
    assert any(fact in shown for fact in own.split("|"))
    assert [m for m in ASHA_MARKERS if m in shown] == []


def test_staff_can_look_up_any_customers_order(chat):
    """Staff asking for Bharat's order get its status."""
    text = chat(STAFF).text("ORD-10003")
    assert text.startswith("*ORD-10003* is *in production 🏭*")
    assert "Denim fabric 12oz × 1500" in text


def test_staff_recent_orders_say_whose_each_order_is(chat):
    """Staff see every customer's orders, each with its company, while a customer's list has no company."""
    staff = chat(STAFF).text("/view_recent_orders")
    assert staff.startswith("📦 Recent orders, all customers (1–5 of 8):")
    assert "Bharat Textiles · Denim fabric 12oz × 1500" in staff
    assert "Asha Traders · Cotton yarn 40s × 200" in staff
    assert "Asha Traders" not in chat(ASHA).text("/view_recent_orders")


def test_staff_see_every_run_on_the_lines_today(chat):
    """Staff see today's runs for both companies and for stock."""
    text = chat(STAFF).text("/schedule_today")
    assert "3 runs on the lines today" in text
    for run in ("Polyester fabric roll (ORD-10002)", "Denim fabric 12oz (ORD-10003)", "Cotton yarn 30s (stock)"):
        assert run in text


def test_staff_page_through_the_whole_week(chat):
    """Staff see all eleven runs of the week, five per page, with MORE for the rest."""
    me = chat(STAFF)
    first = me.text("/schedule_week")
    assert "11 runs on the lines in the next 7 days" in first
    assert "Showing 5 of 11. Reply *MORE* for the next 5." in first
    assert "Showing 10 of 11. Reply *MORE* for the next 1." in me.text("MORE")
    last = me.text("MORE")
    assert "Cotton yarn 30s (stock)" in last and "Reply *MORE*" not in last


def test_staff_see_stock_runs_in_production_status(chat):
    """Staff production status includes the delayed stock run, which no customer sees."""
    text = chat(STAFF).text("/production_status")
    assert text.startswith("⚙️ On the lines now:")
    assert "Cotton yarn 30s (stock) — delayed ⚠️" in text


DATA_QUESTIONS = [
    "/view_recent_orders", tap("track_order", order_id="ORD-10001"), "where is my order ORD-10001",
    "/delivery_estimate", "/defect_history", tap("track_defect", defect_id="DEF-0001"), "DEF-0001",
    "/report_defect", "/schedule_today", "/schedule_week", "/production_status", "what's being produced today",
]


@pytest.mark.parametrize("question", DATA_QUESTIONS)
def test_an_unregistered_number_gets_the_not_registered_answer_for_data(chat, question):
    """A number we don't know asking for any data is told it isn't registered and shown nothing."""
    replies = chat(STRANGER).say(question)
    shown = everything_shown(replies)
    assert NOT_REGISTERED in shown
    assert "support@acme-manufacturing.example" in shown
    assert [m for m in ASHA_MARKERS + ["ORD-10003", "DEF-0003", "Denim"] if m in shown] == []


@pytest.mark.parametrize(
    "steps, answer",
    [
        (["/menu_support"], "*Help & support*"),
        (["/menu_faq"], "*FAQs* — pick a topic"),
        (["/menu_faq", "3"], "Shipping: by road anywhere in India"),
        (["What are your payment terms?"], "Payment terms: 30% advance"),
        (["/contact_support"], "📞 +91 261 400 0000"),
        (["/contact_support", "yes"], "I've asked a colleague to take over this chat"),
        (["/report_issue"], "Please describe the issue"),
    ],
    ids=["help-menu", "faq-menu", "faq-by-number", "faq-typed", "contact", "handoff", "report-issue"],
)
def test_an_unregistered_number_gets_real_help(chat, steps, answer):
    """Help, FAQs and contact support answer an unknown number like anyone else."""
    me = chat(STRANGER)
    text = "\n".join(me.text(step) for step in steps)
    assert answer in text
    assert NOT_REGISTERED not in text


def test_an_unregistered_number_can_open_a_ticket(chat):
    """An unknown number can report an issue and gets a ticket id."""
    me = chat(STRANGER)
    me.say("/report_issue")
    reply = me.text("I want to become a dealer, who should I call?")
    assert reply.startswith("🎫 Ticket *TCK-")
