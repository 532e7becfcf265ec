"""GET /messages and GET /contacts: newest first, both directions merged, keyset pages that add up."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from database.clock import utcnow
from tests.management.conftest import ASHA, RAVI, add_contact, add_inbound, add_outbound


async def all_pages(api, path: str, key: str, cursor_param: str, cursor_field: str, **params: Any) -> list[list]:
    """Follow the cursors from the first page to the last; return every page's items."""
    pages, cursor = [], None
    while True:
        query = {**params, **({cursor_param: cursor} if cursor else {})}
        status, body = await api.call("GET", path, params=query)
        assert status == 200, body
        pages.append(body[key])
        cursor = body[cursor_field]
        if cursor is None:
            return pages
        assert len(pages) < 20


@pytest.mark.asyncio
async def test_messages_merge_both_directions_newest_first_with_delivery_status(api):
    """Asha's conversation comes back newest first, inbound and outbound interleaved, replies with Meta's status."""
    t = utcnow() - timedelta(minutes=10)
    add_inbound(ASHA, "hi", at=t)
    add_outbound(ASHA, "Hello Asha", at=t + timedelta(seconds=1), delivery_status="read")
    add_inbound(ASHA, "ORD-10001", at=t + timedelta(seconds=2))
    add_outbound(ASHA, "ORD-10001 is shipped", at=t + timedelta(seconds=3), state="failed", delivery_status="failed",
                 error_code=131026)
    add_outbound(ASHA, "Hi Asha, this is Meera", at=t + timedelta(seconds=4), state="queued", key="staff:abc",
                 kind="staff")
    add_inbound(RAVI, "not Asha's", at=t + timedelta(seconds=5))
    status, body = await api.call("GET", "/messages", params={"wa_id": ASHA})
    assert status == 200 and body["wa_id"] == ASHA and body["next_before"] is None
    seen = [(m["direction"], m["from"], m["text"], m["state"], m["delivery_status"]) for m in body["messages"]]
    assert seen == [
        ("outbound", "staff", "Hi Asha, this is Meera", "queued", None),
        ("outbound", "bot", "ORD-10001 is shipped", "failed", "failed"),
        ("inbound", "customer", "ORD-10001", "done", None),
        ("outbound", "bot", "Hello Asha", "sent", "read"),
        ("inbound", "customer", "hi", "done", None),
    ]
    assert body["messages"][1]["error_code"] == 131026
    assert body["messages"][0]["at"].endswith("Z")


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50])
@pytest.mark.asyncio
async def test_message_pages_add_up_to_the_whole_conversation(api, limit):
    """Following next_before page by page yields every message once, in order, also across equal timestamps."""
    t = utcnow() - timedelta(minutes=5)
    for n in range(4):  # two inbound and an outbound share each instant
        add_inbound(ASHA, f"in {n}a", at=t + timedelta(seconds=n))
        add_inbound(ASHA, f"in {n}b", at=t + timedelta(seconds=n))
        add_outbound(ASHA, f"out {n}", at=t + timedelta(seconds=n))
    whole = (await api.call("GET", "/messages", params={"wa_id": ASHA, "limit": 50}))[1]["messages"]
    pages = await all_pages(api, "/messages", "messages", "before", "next_before", wa_id=ASHA, limit=limit)
    assert [m["id"] for page in pages for m in page] == [m["id"] for m in whole]
    assert len(whole) == 12 and all(len(page) <= limit for page in pages)
    assert [m["text"] for m in whole[:3]] == ["out 3", "in 3b", "in 3a"]


@pytest.mark.asyncio
async def test_a_new_message_does_not_shift_the_page_being_read(api):
    """A message arriving between two page requests shows on a fresh first page, not as a repeat on page two."""
    t = utcnow() - timedelta(minutes=5)
    for n in range(4):
        add_inbound(ASHA, f"m{n}", at=t + timedelta(seconds=n))
    first = (await api.call("GET", "/messages", params={"wa_id": ASHA, "limit": 2}))[1]
    add_inbound(ASHA, "late", at=utcnow())
    second = (await api.call("GET", "/messages", params={"wa_id": ASHA, "limit": 2,
                                                          "before": first["next_before"]}))[1]
    assert [m["text"] for m in first["messages"] + second["messages"]] == ["m3", "m2", "m1", "m0"]


@pytest.mark.parametrize(
    ("params", "code"),
    [({}, "invalid_wa_id"), ({"wa_id": "asha"}, "invalid_wa_id"), ({"wa_id": ASHA, "limit": "0"}, "invalid_limit"),
     ({"wa_id": ASHA, "limit": "201"}, "invalid_limit"), ({"wa_id": ASHA, "limit": "ten"}, "invalid_limit"),
     ({"wa_id": ASHA, "limit": "-1"}, "invalid_limit"), ({"wa_id": ASHA, "before": "not-a-cursor"}, "invalid_cursor"),
     ({"wa_id": ASHA, "before": "WzEsMl0"}, "invalid_cursor")],
    ids=["no_wa_id", "bad_wa_id", "limit_0", "limit_201", "limit_word", "limit_negative", "cursor_garbage",
         "cursor_wrong_shape"],
)
@pytest.mark.asyncio
async def test_bad_message_queries_get_400(api, params, code):
    """A missing or malformed number, limit or cursor is a 400 with its code."""
    status, body = await api.call("GET", "/messages", params=params)
    assert (status, body["error"]) == (400, code)


@pytest.mark.asyncio
async def test_contacts_show_last_interaction_opt_out_and_the_registered_customer(api):
    """Each contact has its last inbound and outbound times, the later of them, opt-out and who it is."""
    now = utcnow()
    add_contact(ASHA, last_inbound_at=now - timedelta(hours=2))
    add_contact("919800000077", last_inbound_at=now - timedelta(days=3), opted_out=True, profile_name="Stranger")
    add_outbound(ASHA, "reply", at=now - timedelta(minutes=5))
    status, body = await api.call("GET", "/contacts")
    assert status == 200 and body["next_cursor"] is None
    asha, stranger = body["contacts"]
    assert asha["wa_id"] == ASHA and asha["opted_out"] is False
    assert asha["customer"] == {"name": "Asha Mehta", "company": "Asha Traders", "role": "customer"}
    assert asha["last_interaction_at"] == asha["last_outbound_at"] > asha["last_inbound_at"]
    assert stranger["opted_out"] is True and stranger["customer"] is None
    assert stranger["last_outbound_at"] is None and stranger["last_interaction_at"] == stranger["first_seen"]


@pytest.mark.parametrize("limit", [1, 2, 5])
@pytest.mark.asyncio
async def test_contact_pages_add_up_to_every_contact_most_recent_first(api, limit):
    """Following next_cursor lists each of five contacts once, most recently active first."""
    now = utcnow()
    numbers = [f"9198000001{n:02d}" for n in range(5)]
    for n, number in enumerate(numbers):
        add_contact(number, last_inbound_at=now - timedelta(hours=n))
    pages = await all_pages(api, "/contacts", "contacts", "cursor", "next_cursor", limit=limit)
    assert [c["wa_id"] for page in pages for c in page] == numbers


@pytest.mark.parametrize(("params", "code"), [({"limit": "0"}, "invalid_limit"), ({"cursor": "%%%"}, "invalid_cursor"),
                                               ({"cursor": "WyJ4IiwgMV0"}, "invalid_cursor")],
                         ids=["limit_0", "cursor_garbage", "cursor_bad_date"])
@pytest.mark.asyncio
async def test_bad_contact_queries_get_400(api, params, code):
    """A bad limit or cursor is a 400 with its code."""
    status, body = await api.call("GET", "/contacts", params=params)
    assert (status, body["error"]) == (400, code)
