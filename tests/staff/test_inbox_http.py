"""The inbox API as the page uses it: the list, one conversation, reply, template, take over, hand back."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from urllib.parse import quote

import aiohttp
import pytest
from sqlalchemy import select, update

from database.clock import utcnow
from database.handoffs import request_handoff
from database.session import sessions
from connectors.management.handoff import RELEASE_NOTE, is_paused
from connectors.management.outbound import Refused
from connectors.staff import inbox, replies
from connectors.staff.config import OfferedTemplate, StaffConfig
from connectors.staff.sessions import create_session
from connectors.staff.tables import audit
from connectors.whatsapp.tables import contacts, inbound, outbox
from tests.management.conftest import ASHA, RAVI, add_contact, add_inbound, add_outbound, outbox_rows
from tests.staff.conftest import CONFIG, serve

STRANGER = "919800000077"


def audit_rows() -> list[tuple]:
    """Return (actor, action, wa_id) of every audit row, oldest first."""
    with sessions()() as session:
        return [tuple(r) for r in session.execute(select(audit.c.actor, audit.c.action, audit.c.wa_id)
                                                  .order_by(audit.c.id))]


@pytest.fixture
def conversations(seeded):
    """Asha (bot, recent), Ravi (asked for a person 20 minutes ago) and a stranger (asked 5 minutes ago)."""
    now = utcnow()
    add_contact(ASHA, now - timedelta(minutes=1), profile_name="Asha M")
    add_inbound(ASHA, "where is my order", at=now - timedelta(minutes=1))
    add_contact(RAVI, now - timedelta(minutes=20), profile_name="Ravi K")
    add_inbound(RAVI, "I want to talk to a person", at=now - timedelta(minutes=20))
    request_handoff(RAVI, now - timedelta(minutes=20))
    add_contact(STRANGER, now - timedelta(minutes=5), profile_name="Neha")
    add_inbound(STRANGER, "agent please", at=now - timedelta(minutes=5))
    request_handoff(STRANGER, now - timedelta(minutes=5))


@pytest.mark.asyncio
async def test_waiting_conversations_come_first_longest_wait_first(tab, conversations):
    """Ravi (20 min) and the stranger (5 min) wait for a person and come before Asha, with their wait."""
    await tab.sign_in("meera")
    status, body, _ = await tab.call("GET", "/api/conversations")
    items = body["conversations"]
    assert status == 200 and [i["wa_id"] for i in items] == [RAVI, STRANGER, ASHA]
    assert [i["state"] for i in items] == ["waiting", "waiting", "bot"]
    assert 19 * 60 <= items[0]["waited_seconds"] <= 21 * 60 and items[2]["waited_seconds"] is None
    assert items[0]["name"] == "Ravi Kumar" and items[0]["company"] == "Bharat Textiles"
    assert items[0]["last_message"] == "I want to talk to a person"


@pytest.mark.parametrize(("q", "found"), [("9800000002", [RAVI]), ("+91 98000 00077", [STRANGER]),
                                          ("asha", [ASHA]), ("bharat", [RAVI]), ("neha", [STRANGER]),
                                          ("50%", []), ("", [RAVI, STRANGER, ASHA])],
                         ids=["number", "spaced_number", "customer_name", "company", "profile_name", "wildcard",
                              "blank"])
@pytest.mark.asyncio
async def test_search_finds_by_number_name_or_company(tab, conversations, q, found):
    """The search matches digits of the number, the customer's or profile name, or the company."""
    await tab.sign_in("meera")
    _, body, _ = await tab.call("GET", f"/api/conversations?q={quote(q)}")
    assert [i["wa_id"] for i in body["conversations"]] == found


@pytest.mark.asyncio
async def test_a_conversation_shows_both_directions_as_the_customer_saw_them(tab, seeded):
    """Text, a tapped list row (its title), a list message with rows, reply buttons and ticks appear in order."""
    now = utcnow()
    add_contact(ASHA, now, profile_name="Asha M")
    add_inbound(ASHA, "hi", at=now - timedelta(seconds=30))
    list_payload = {"messaging_product": "whatsapp", "to": ASHA, "type": "interactive", "interactive": {
        "type": "list", "body": {"text": "How can I help you today?"},
        "action": {"button": "Main menu", "sections": [{"title": "Menu", "rows": [
            {"id": "/menu_orders", "title": "Check Order Status"}, {"id": "/menu_defects", "title": "Report Defect"}]}]}}}
    buttons = {"messaging_product": "whatsapp", "to": ASHA, "type": "interactive", "interactive": {
        "type": "button", "body": {"text": "Orders"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "Recent orders"}}]}}}
    with sessions().begin() as session:
        for seconds, payload, status in ((20, list_payload, "read"), (5, buttons, "delivered")):
            session.execute(outbox.insert().values(
                wa_id=ASHA, inbound_wamid=f"wamid.x{seconds}", seq=0, kind="reply", payload=payload, state="sent",
                attempts=1, next_attempt_at=now, delivery_status=status, status_rank=0,
                created_at=now - timedelta(seconds=seconds)))
    with sessions().begin() as session:
        session.execute(inbound.insert().values(
            wamid="wamid.tap", wa_id=ASHA, phone_number_id="1", kind="list_reply", text="/menu_orders",
            meta={"details": {"title": "Check Order Status"}}, timestamp=0, state="done", attempts=1,
            received_at=now - timedelta(seconds=10)))
    await tab.sign_in("meera")
    status, conv, _ = await tab.call("GET", f"/api/conversations/{ASHA}")
    assert status == 200 and conv["state"] == "bot" and conv["window_open"] is True
    shown = [(m["direction"], m["kind"], m["text"]) for m in conv["messages"]]
    assert shown == [("in", "text", "hi"), ("out", "interactive", "How can I help you today?"),
                     ("in", "tap", "Check Order Status"), ("out", "interactive", "Orders")]
    assert [r["title"] for r in conv["messages"][1]["sections"][0]["rows"]] == ["Check Order Status", "Report Defect"]
    assert conv["messages"][3]["buttons"] == ["Recent orders"]
    assert [m.get("ticks") for m in conv["messages"]] == [None, "read", None, "delivered"]


@pytest.mark.asyncio
async def test_a_reply_needs_the_conversation_taken_over(tab, conversations):
    """Replying where the bot has the conversation gets 409 not_taken_over and sends nothing."""
    await tab.sign_in("meera")
    status, body, _ = await tab.call("POST", f"/api/conversations/{ASHA}/reply", {"text": "hello"})
    assert (status, body["error"]) == (409, "not_taken_over") and "take it over" in body["detail"]
    assert outbox_rows() == []


@pytest.mark.asyncio
async def test_a_reply_is_queued_with_its_author_and_another_account_sees_who(tab, other_tab, conversations):
    """Meera's reply to Ravi is one staff outbox row; Arjun sees it marked as Meera's and Ravi as with Meera."""
    await tab.sign_in("meera")
    status, body, _ = await tab.call("POST", f"/api/conversations/{RAVI}/reply", {"text": "Hi Ravi, Meera here."})
    assert (status, body["status"]) == (202, "queued")
    [row] = outbox_rows(RAVI)
    assert (row.kind, row.payload["text"]["body"], row.inbound_wamid.startswith("staff:")) == (
        "staff", "Hi Ravi, Meera here.", True)
    await other_tab.sign_in("arjun")
    _, conv, _ = await other_tab.call("GET", f"/api/conversations/{RAVI}")
    staff = [m for m in conv["messages"] if m["direction"] == "out"]
    assert [(m["from"], m["author"], m["text"]) for m in staff] == [("staff", "Meera", "Hi Ravi, Meera here.")]
    assert (conv["state"], conv["handled_by"]) == ("with_staff", "Meera")
    _, listed, _ = await other_tab.call("GET", "/api/conversations")
    assert [(i["wa_id"], i["state"], i["handled_by"]) for i in listed["conversations"]][:2] == [
        (STRANGER, "waiting", None), (RAVI, "with_staff", "Meera")]
    assert ("meera", "reply", RAVI) in audit_rows()


@pytest.mark.asyncio
async def test_take_over_pauses_the_bot_and_hand_back_tells_the_customer(tab, conversations):
    """Taking Asha over opens a handoff (the bot pauses); handing back closes it and queues the note."""
    await tab.sign_in("meera")
    status, body, _ = await tab.call("POST", f"/api/conversations/{ASHA}/take-over", {})
    assert (status, body["opened"]) == (200, True) and is_paused(ASHA)
    _, conv, _ = await tab.call("GET", f"/api/conversations/{ASHA}")
    assert (conv["state"], conv["handled_by"]) == ("with_staff", "Meera")
    assert (await tab.call("POST", f"/api/conversations/{ASHA}/reply", {"text": "Hello Asha"}))[0] == 202
    status, body, _ = await tab.call("POST", f"/api/conversations/{ASHA}/hand-back", {})
    assert status == 200 and not is_paused(ASHA)
    assert [r.payload["text"]["body"] for r in outbox_rows(ASHA)] == ["Hello Asha", RELEASE_NOTE]
    status, body, _ = await tab.call("POST", f"/api/conversations/{ASHA}/hand-back", {})
    assert (status, body["error"]) == (404, "handoff_not_found")
    assert [a for a in audit_rows() if a[2] == ASHA] == [("meera", "take_over", ASHA), ("meera", "reply", ASHA),
                                                         ("meera", "hand_back", ASHA)]


@pytest.mark.asyncio
async def test_of_two_people_taking_over_at_once_one_gets_it_and_the_other_is_told_who(tab, other_tab, conversations):
    """Meera and Arjun take Asha over at the same moment: one has it, the other gets 409 naming them."""
    await tab.sign_in("meera")
    await other_tab.sign_in("arjun")
    answers = await asyncio.gather(tab.call("POST", f"/api/conversations/{ASHA}/take-over", {}),
                                   other_tab.call("POST", f"/api/conversations/{ASHA}/take-over", {}))
    [(won, _, _)], [(lost, refusal, _)] = ([a for a in answers if a[0] == 200], [a for a in answers if a[0] != 200])
    _, conv, _ = await tab.call("GET", f"/api/conversations/{ASHA}")
    assert (lost, refusal["error"]) == (409, "taken_by_other")
    assert refusal["hint"].startswith(conv["handled_by"]) and conv["state"] == "with_staff"
    takers = [a[0] for a in audit_rows() if a[1] == "take_over"]
    assert len(takers) == 1 and conv["handled_by"] == takers[0].capitalize()


def test_a_take_over_whose_clock_read_came_before_the_handoff_still_holds_it(conversations, staff_accounts):
    """Meera's take-over opens Asha's handoff at 12:00:01 while Arjun's, begun at 12:00:00, claims it first:
    Arjun holds it and Meera is refused, not both."""
    opened_at = utcnow()
    _, arjun = create_session(staff_accounts["arjun"], timedelta(hours=1))
    _, meera = create_session(staff_accounts["meera"], timedelta(hours=1))
    assert request_handoff(ASHA, opened_at)  # the first half of Meera's take-over
    assert replies.take_over(arjun, ASHA, "127.0.0.1", now=opened_at - timedelta(seconds=1)) is False
    with pytest.raises(Refused) as refused:
        replies.take_over(meera, ASHA, "127.0.0.1", now=opened_at)
    assert (refused.value.code, refused.value.hint) == ("taken_by_other", "Arjun has it; ask them to hand it back")
    assert inbox.conversation(ASHA)["handled_by"] == "Arjun"


@pytest.mark.asyncio
async def test_taking_over_a_conversation_someone_answers_is_refused_naming_them(tab, other_tab, conversations):
    """After Meera answered Ravi, Arjun's take-over gets 409 taken_by_other and Ravi stays with Meera."""
    await tab.sign_in("meera")
    await other_tab.sign_in("arjun")
    assert (await tab.call("POST", f"/api/conversations/{RAVI}/reply", {"text": "Meera here."}))[0] == 202
    status, body, _ = await other_tab.call("POST", f"/api/conversations/{RAVI}/take-over", {})
    assert (status, body["error"], body["hint"]) == (409, "taken_by_other", "Meera has it; ask them to hand it back")
    _, conv, _ = await other_tab.call("GET", f"/api/conversations/{RAVI}")
    assert conv["handled_by"] == "Meera"
    assert (await tab.call("POST", f"/api/conversations/{RAVI}/take-over", {}))[0] == 200  # her own: still hers


@pytest.mark.asyncio
async def test_a_closed_window_refuses_text_and_offers_the_template(tab, conversations):
    """Outside the 24-hour window text gets 409 outside_service_window; the offered template goes out."""
    with sessions().begin() as session:
        session.execute(update(contacts).where(contacts.c.wa_id == RAVI)
                        .values(last_inbound_at=utcnow() - timedelta(hours=25)))
    await tab.sign_in("meera")
    _, me, _ = await tab.call("GET", "/api/me")
    assert me["templates"] == [{"name": "hello_again", "language": "en"}]
    _, conv, _ = await tab.call("GET", f"/api/conversations/{RAVI}")
    assert conv["window_open"] is False
    status, body, _ = await tab.call("POST", f"/api/conversations/{RAVI}/reply", {"text": "Hello?"})
    assert (status, body["error"], body["hint"]) == (409, "outside_service_window", "send a template")
    assert outbox_rows(RAVI) == []
    status, body, _ = await tab.call("POST", f"/api/conversations/{RAVI}/reply", {"template": {"name": "not_offered"}})
    assert (status, body["error"]) == (400, "unknown_template")
    status, body, _ = await tab.call("POST", f"/api/conversations/{RAVI}/reply", {"template": {"name": "hello_again"}})
    assert status == 202
    [row] = outbox_rows(RAVI)
    assert (row.kind, row.payload["template"]["name"]) == ("template", "hello_again")
    _, conv, _ = await tab.call("GET", f"/api/conversations/{RAVI}")
    assert [(m["template"], m["author"]) for m in conv["messages"] if m["direction"] == "out"] == [("hello_again", "Meera")]


@pytest.mark.asyncio
async def test_a_marketing_template_never_goes_to_a_number_that_stopped_marketing(conversations, staff_accounts,
                                                                                  monkeypatch):
    """Ravi stopped marketing messages: the marketing template gets 409 marketing_opted_out, a utility one goes."""
    with sessions().begin() as session:
        session.execute(update(contacts).where(contacts.c.wa_id == RAVI).values(marketing_stopped=True))
    config = replace(CONFIG, templates=CONFIG.templates + (OfferedTemplate("diwali_sale"),),
                     marketing_templates=StaffConfig.from_env({"MARKETING_TEMPLATES": "diwali_sale"}).marketing_templates)
    async with serve(config, monkeypatch) as running, aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        browser = running.browser(http)
        await browser.sign_in("meera")
        status, body, _ = await browser.call("POST", f"/api/conversations/{RAVI}/reply",
                                             {"template": {"name": "diwali_sale"}})
        assert (status, body["error"]) == (409, "marketing_opted_out")
        assert outbox_rows(RAVI) == []
        status, _, _ = await browser.call("POST", f"/api/conversations/{RAVI}/reply", {"template": {"name": "hello_again"}})
    assert status == 202
    assert [row.payload["template"]["name"] for row in outbox_rows(RAVI)] == ["hello_again"]


@pytest.mark.asyncio
async def test_nothing_goes_to_a_number_that_sent_stop(tab, conversations):
    """A customer who opted out gets neither text nor template: 409 opted_out."""
    with sessions().begin() as session:
        session.execute(update(contacts).where(contacts.c.wa_id == RAVI).values(opted_out=True))
    await tab.sign_in("meera")
    for body in ({"text": "hello"}, {"template": {"name": "hello_again"}}):
        status, answer, _ = await tab.call("POST", f"/api/conversations/{RAVI}/reply", body)
        assert (status, answer["error"]) == (409, "opted_out")
    assert outbox_rows(RAVI) == []


@pytest.mark.asyncio
async def test_unknown_numbers_and_bad_bodies_get_clear_errors(tab, conversations):
    """A number that never wrote gets 404; an empty or over-long reply gets 400 invalid_body."""
    await tab.sign_in("meera")
    assert (await tab.call("GET", "/api/conversations/919811111111"))[1]["error"] == "conversation_not_found"
    status, body, _ = await tab.call("POST", "/api/conversations/919811111111/take-over", {})
    assert (status, body["error"]) == (404, "conversation_not_found")
    for reply in ({"text": "  "}, {"text": "x" * 4097}, {}):
        status, body, _ = await tab.call("POST", f"/api/conversations/{RAVI}/reply", reply)
        assert (status, body["error"]) == (400, "invalid_body")
    assert outbox_rows() == []


@pytest.mark.asyncio
async def test_bot_messages_keep_their_origin(tab, conversations):
    """A bot reply shows as the bot's, without a staff author."""
    add_outbound(ASHA, "Hello Asha")
    await tab.sign_in("meera")
    _, conv, _ = await tab.call("GET", f"/api/conversations/{ASHA}")
    assert [(m["from"], m["author"]) for m in conv["messages"] if m["direction"] == "out"] == [("bot", None)]
