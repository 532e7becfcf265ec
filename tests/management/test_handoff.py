"""Handoff through the API: waiting conversations, staff replies, release by staff or after idle time."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from database.clock import utcnow
from database.handoffs import request_handoff
from database.models import Handoff
from database.session import sessions
from connectors.management import handoff
from connectors.management.handoff import RELEASE_NOTE, IdleHandBack, is_paused
from tests.management.conftest import ASHA, RAVI, add_contact, add_inbound, outbox_rows

handoffs = Handoff.__table__


def age_handoff(wa_id: str, minutes: float) -> None:
    """Pretend the open handoff was requested (and last touched) minutes ago."""
    at = utcnow() - timedelta(minutes=minutes)
    with sessions().begin() as session:
        session.execute(update(handoffs).where(handoffs.c.open_key == wa_id)
                        .values(requested_at=at, last_activity_at=at))


def test_a_request_pauses_the_number_until_released(seeded):
    """The action's request pauses only that number; asking again keeps the one open handoff."""
    assert request_handoff(ASHA) is True
    assert request_handoff(ASHA) is False
    assert is_paused(ASHA) and not is_paused(RAVI)
    assert handoff.release(ASHA) is not None
    assert not is_paused(ASHA)
    assert request_handoff(ASHA) is True  # a new request after a release opens a new handoff
    with sessions()() as session:
        assert session.scalar(select(handoffs.c.id).where(handoffs.c.wa_id == ASHA).order_by(handoffs.c.id.desc())
                              .limit(1)) == 2


@pytest.mark.asyncio
async def test_waiting_conversations_are_listed_with_their_last_message(api):
    """GET /handoffs shows who waits, since when, the customer's last message and how many arrived since."""
    add_contact(ASHA, last_inbound_at=utcnow(), profile_name="Asha M")
    add_inbound(ASHA, "talk to a person", at=utcnow() - timedelta(seconds=5))
    request_handoff(ASHA)
    add_inbound(ASHA, "hello? my order is late")
    status, body = await api.call("GET", "/handoffs")
    assert status == 200
    [item] = body["handoffs"]
    assert (item["wa_id"], item["state"], item["name"], item["profile_name"], item["company"]) == (
        ASHA, "waiting", "Asha Mehta", "Asha M", "Asha Traders")
    assert item["messages_waiting"] == 1 and item["staff_replies"] == 0
    assert item["last_message"]["text"] == "hello? my order is late" and item["since"].endswith("Z")


@pytest.mark.asyncio
async def test_staff_reply_goes_out_as_a_person_through_the_outbox(api):
    """A staff reply is queued as kind "staff", shown from staff in /messages, and counted on the handoff."""
    add_contact(ASHA, last_inbound_at=utcnow())
    request_handoff(ASHA)
    status, body = await api.call("POST", f"/handoffs/{ASHA}/reply", {"text": "Hi Asha, Meera here."})
    [row] = outbox_rows(ASHA)
    assert (status, body) == (202, {"id": row.id, "status": "queued", "to": ASHA, "kind": "text"})
    assert (row.kind, row.payload["text"]["body"]) == ("staff", "Hi Asha, Meera here.")
    [shown] = (await api.call("GET", "/messages", params={"wa_id": ASHA}))[1]["messages"]
    assert (shown["from"], shown["text"]) == ("staff", "Hi Asha, Meera here.")
    [item] = (await api.call("GET", "/handoffs"))[1]["handoffs"]
    assert item["staff_replies"] == 1


@pytest.mark.asyncio
async def test_replies_need_an_open_handoff_and_an_open_window(api):
    """No handoff: 404; customer opted out: 409; bad number or body: 400. Nothing is queued."""
    add_contact(ASHA, last_inbound_at=utcnow() - timedelta(days=2))
    assert await api.call("POST", f"/handoffs/{ASHA}/reply", {"text": "hi"}) == (404, {
        "error": "handoff_not_found", "detail": "no conversation with this number waits for a person"})
    request_handoff(ASHA)
    assert await api.call("POST", f"/handoffs/{ASHA}/reply", {"text": "hi"}) == (409, {
        "error": "outside_service_window", "hint": "send a template"})
    assert (await api.call("POST", "/handoffs/asha/reply", {"text": "hi"}))[1]["error"] == "invalid_wa_id"
    assert (await api.call("POST", f"/handoffs/{ASHA}/reply", {"text": " "}))[1]["error"] == "invalid_body"
    assert (await api.call("POST", f"/handoffs/{ASHA}/reply", raw=b"hi"))[1]["error"] == "invalid_json"
    assert outbox_rows() == []


@pytest.mark.asyncio
async def test_release_sends_the_note_once_and_resumes_the_bot(api):
    """Releasing queues the hand-back note, unpauses the number and empties the list; a second release is 404."""
    add_contact(ASHA, last_inbound_at=utcnow())
    request_handoff(ASHA)
    status, body = await api.call("POST", f"/handoffs/{ASHA}/release")
    [note] = outbox_rows(ASHA)
    assert (status, body) == (200, {"wa_id": ASHA, "state": "released", "note_id": note.id})
    assert (note.kind, note.payload["text"]["body"]) == ("notice", RELEASE_NOTE)
    assert not is_paused(ASHA) and (await api.call("GET", "/handoffs"))[1] == {"handoffs": []}
    assert (await api.call("POST", f"/handoffs/{ASHA}/release"))[0] == 404
    assert len(outbox_rows(ASHA)) == 1


def test_idle_handoffs_go_back_to_the_bot_and_active_ones_stay(seeded):
    """After the idle time without a message either way the bot takes over; a recent message keeps it paused."""
    request_handoff(ASHA)
    request_handoff(RAVI)
    age_handoff(ASHA, 31)
    age_handoff(RAVI, 31)
    add_inbound(RAVI, "still there?", at=utcnow() - timedelta(minutes=2))
    [(handoff_id, number)] = handoff.idle_handoffs(timedelta(minutes=30))
    assert number == ASHA
    assert handoff.release_idle(handoff_id, ASHA, timedelta(minutes=30)) is not None
    with sessions()() as session:
        row = session.execute(select(handoffs).where(handoffs.c.wa_id == ASHA)).one()
    assert (row.state, row.released_by, row.open_key) == ("released", "idle", None)
    assert is_paused(RAVI) and [r.payload["text"]["body"] for r in outbox_rows(ASHA)] == [RELEASE_NOTE]


@pytest.mark.asyncio
async def test_the_idle_loop_releases_within_its_interval(seeded):
    """The background hand-back releases an idle conversation on its next round and only once."""
    request_handoff(ASHA)
    age_handoff(ASHA, 0.2)
    loop = IdleHandBack(idle_minutes=0.1)
    assert await loop.run_once() == 1
    assert await loop.run_once() == 0
    assert not is_paused(ASHA) and len(outbox_rows(ASHA)) == 1


def test_a_stale_idle_list_releases_nothing_twice_and_no_newer_handoff(seeded):
    """Two instances acting on the same idle list: one note; a handoff opened since, or a message since, stays."""
    request_handoff(ASHA)
    request_handoff(RAVI)
    age_handoff(ASHA, 31)
    age_handoff(RAVI, 31)
    idle = timedelta(minutes=30)
    listed = dict((number, handoff_id) for handoff_id, number in handoff.idle_handoffs(idle))
    assert handoff.release_idle(listed[ASHA], ASHA, idle) is not None  # the first instance
    assert handoff.release_idle(listed[ASHA], ASHA, idle) is None  # the second, on the same list
    request_handoff(ASHA)  # Asha asks for a person again right away
    assert handoff.release_idle(listed[ASHA], ASHA, idle) is None and is_paused(ASHA)
    add_inbound(RAVI, "hello?")  # Ravi writes after the list was made
    assert handoff.release_idle(listed[RAVI], RAVI, idle) is None and is_paused(RAVI)
    assert [r.payload["text"]["body"] for r in outbox_rows(ASHA)] == [RELEASE_NOTE] and outbox_rows(RAVI) == []
