"""The data API over HTTP: tokens, idempotent upserts, all-or-nothing batches, reads and what the bot then sees."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from database.customers import find_customer
from database.models import Company, Customer, DefectReport, Order, OrderEvent, ProductionRun
from database.orders import find_order, recent_orders
from database.session import sessions
from connectors.data.config import ConfigError, DataConfig
from connectors.management import notify
from tests.data.conftest import STAFF_TOKEN, TOKEN

pytestmark = pytest.mark.asyncio

ASHA, RAVI = "919800000001", "919800000002"
NEW = "919811112222"
COMPANY = {"ref": "C-7001", "name": "Kiran Mills"}
CONTACT = {"wa_id": "+" + NEW, "company_ref": "C-7001", "name": "Kiran Rao", "role": "customer", "title": "owner"}
ORDER = {"ref": "ORD-20001", "company_ref": "C-7001", "product": "Cotton yarn 60s", "quantity": 120,
         "status": "received", "placed_on": "2026-12-01", "promised_on": "2026-12-20"}
PATHS = ["/companies", "/contacts", "/orders", "/production-runs", "/defects"]


def counts() -> dict[str, int]:
    """Return how many rows each business table holds."""
    with sessions()() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Company, Customer, Order, OrderEvent, ProductionRun, DefectReport)}


def events(ref: str) -> list[tuple[str, Any]]:
    """Return an order's events as (status, note), oldest first."""
    with sessions()() as session:
        return [tuple(r) for r in session.execute(
            select(OrderEvent.status, OrderEvent.note).join(Order, Order.id == OrderEvent.order_id)
            .where(Order.ref == ref).order_by(OrderEvent.at, OrderEvent.id))]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_every_route_refuses_a_caller_without_the_data_token(api, method, path):
    """No token or a wrong one gets 401; the operators' token or a staff session gets 403."""
    body = {"rows": [COMPANY]}
    assert await api.call(method, path, body, headers={}) == (401, {"error": "unauthorized"})
    assert (await api.call(method, path, body, headers={"Authorization": "Bearer not-the-token"}))[0] == 401
    status, answer = await api.call(method, path, body, headers={"Authorization": f"Bearer {STAFF_TOKEN}"})
    assert (status, answer["error"]) == (403, "forbidden")
    status, answer = await api.call(method, path, body, headers={"Cookie": "staff_session=abc"})
    assert (status, answer["error"]) == (403, "forbidden")
    assert counts()["companies"] == 3


async def test_the_data_token_with_a_staff_cookie_is_accepted(api):
    """A valid data token wins over a staff cookie in the same request."""
    status, _ = await api.call("GET", "/companies", headers={"Authorization": f"Bearer {TOKEN}",
                                                             "Cookie": "staff_session=abc"})
    assert status == 200


async def test_without_a_token_configured_the_api_is_off(api_off):
    """With DATA_API_TOKEN unset every route answers 404 api_disabled, even with a token."""
    status, body = await api_off.call("GET", "/companies")
    assert (status, body["error"]) == (404, "api_disabled")


async def test_a_company_contact_and_order_loaded_through_the_api_are_what_the_bot_sees(api):
    """The new contact is recognised by number and sees the new order, and only their company's orders."""
    assert (await api.put("companies", COMPANY))[1]["created"] == 1
    assert (await api.put("contacts", CONTACT))[1]["created"] == 1
    status, body = await api.put("orders", ORDER)
    assert (status, body["created"], body["results"]) == (200, 1, [{"ref": "ORD-20001", "outcome": "created"}])

    person = find_customer(NEW)
    assert (person.name, person.company, person.is_staff) == ("Kiran Rao", "Kiran Mills", False)
    assert [o.ref for o in recent_orders(NEW, limit=10)] == ["ORD-20001"]
    assert find_order(ASHA, "ORD-20001") is None
    assert events("ORD-20001") == [("received", None)]


async def test_sending_the_same_batch_again_changes_nothing(api):
    """A repeated upsert reports every row unchanged and writes no row or event."""
    await api.put("companies", COMPANY)
    await api.put("contacts", CONTACT)
    await api.put("orders", ORDER)
    before = counts()
    status, body = await api.put("orders", ORDER)
    assert (status, body["created"], body["updated"], body["unchanged"]) == (200, 0, 0, 1)
    status, body = await api.put("contacts", CONTACT)
    assert body["unchanged"] == 1
    assert counts() == before


async def test_a_status_change_writes_one_event_and_is_announced_once(api):
    """Moving ORD-10002 to shipped adds one event with its note; the scan sees exactly one change for Asha."""
    notify.scan_once(notify.ManagementConfig())  # baseline: every current status is recorded
    row = {"ref": "ORD-10002", "company_ref": "ASHA-TRADERS", "contact_wa_id": ASHA, "product": "Polyester fabric roll",
           "quantity": 40, "status": "shipped", "placed_on": "2026-11-29", "promised_on": "2026-12-14",
           "carrier": "BlueDart", "tracking_no": "BD555", "status_note": "Dispatched from Surat plant"}
    assert (await api.put("orders", row))[1]["updated"] == 1
    assert (await api.put("orders", row))[1]["unchanged"] == 1
    assert events("ORD-10002")[-1] == ("shipped", "Dispatched from Surat plant")
    assert [e for e in events("ORD-10002") if e[0] == "shipped"] == [("shipped", "Dispatched from Surat plant")]
    [change] = notify.unseen()
    assert (change.ref, change.status, change.wa_id, change.known) == ("ORD-10002", "shipped", ASHA, True)
    order = find_order(ASHA, "ORD-10002")
    assert (order.status, order.carrier, order.tracking_no) == ("shipped", "BlueDart", "BD555")


async def test_an_order_without_its_own_contact_is_announced_to_the_company_contact(api):
    """An order loaded with only its company tells the company's customer contact of its changes."""
    await api.put("companies", COMPANY)
    await api.put("contacts", CONTACT)
    await api.put("orders", ORDER)
    notify.scan_once(notify.ManagementConfig())
    await api.put("orders", {**ORDER, "status": "in_production"})
    [change] = notify.unseen()
    assert (change.ref, change.status, change.wa_id) == ("ORD-20001", "in_production", NEW)


async def test_every_problem_of_every_row_is_named_and_nothing_is_written(api):
    """A batch with bad rows gets 422 listing each (row, field, code) and leaves the tables as they were."""
    before = counts()
    rows = [COMPANY, {"ref": "bad ref", "name": ""}, {"ref": "C-7002", "name": "X", "city": "Pune"}, COMPANY]
    status, body = await api.put("companies", *rows)
    assert status == 422 and body["error"] == "invalid_rows"
    assert [(p["row"], p["field"], p["code"]) for p in body["problems"]] == [
        (1, "ref", "invalid_ref"), (1, "name", "blank"), (2, "city", "unknown_field"), (3, "ref", "duplicate")]
    assert all(p["message"] for p in body["problems"])
    assert counts() == before


async def test_a_reference_to_nothing_in_the_last_row_rolls_back_the_rows_before_it(api):
    """Rows 0 and 1 are valid, row 2 names an unknown company: 422 naming row 2, and no order was written."""
    before = counts()
    rows = [{**ORDER, "company_ref": "ASHA-TRADERS", "ref": "ORD-20002"},
            {**ORDER, "company_ref": "ASHA-TRADERS", "ref": "ORD-10001", "status": "delivered"},
            {**ORDER, "ref": "ORD-20003", "company_ref": "NOBODY"}]
    status, body = await api.put("orders", *rows)
    assert status == 422
    assert [(p["row"], p["field"], p["code"]) for p in body["problems"]] == [(2, "company_ref", "unknown_company")]
    assert counts() == before
    assert find_order(ASHA, "ORD-10001").status == "shipped"


async def test_field_values_are_checked(api):
    """Wrong types, numbers, dates, statuses and numbers without a country code are each named."""
    bad = {**ORDER, "quantity": "120", "status": "lost", "placed_on": "2026-02-30", "promised_on": "tomorrow",
           "contact_wa_id": "98000", "status_at": "2026-12-01T10:00:00"}
    status, body = await api.put("orders", bad)
    assert status == 422
    assert {(p["field"], p["code"]) for p in body["problems"]} == {
        ("quantity", "invalid_integer"), ("status", "invalid_choice"), ("placed_on", "invalid_date"),
        ("promised_on", "invalid_date"), ("contact_wa_id", "invalid_wa_id"), ("status_at", "invalid_date_time")}


async def test_a_contact_of_another_company_cannot_receive_an_order(api):
    """contact_wa_id must be a contact of the order's company."""
    await api.put("companies", COMPANY)
    status, body = await api.put("orders", {**ORDER, "contact_wa_id": ASHA})
    assert status == 422 and body["problems"][0]["code"] == "contact_not_in_company"


async def test_two_companies_with_the_same_name_do_not_see_each_others_orders(api):
    """Visibility follows the company's reference, not its name."""
    await api.put("companies", {"ref": "SH-1", "name": "Sharma Textiles"}, {"ref": "SH-2", "name": "Sharma Textiles"})
    await api.put("contacts", {**CONTACT, "company_ref": "SH-1"},
                  {**CONTACT, "wa_id": "919811113333", "company_ref": "SH-2"})
    await api.put("orders", {**ORDER, "company_ref": "SH-1"})
    assert [o.ref for o in recent_orders(NEW)] == ["ORD-20001"]
    assert recent_orders("919811113333") == []


@pytest.mark.parametrize("raw, code", [
    (b"not json", "invalid_json"), (b"[]", "invalid_json"), (b'{"rows": []}', "invalid_body"),
    (b'{"rows": {}}', "invalid_body"), (b'{"rows": [{}], "extra": 1}', "invalid_body")],
    ids=["not-json", "array", "no-rows", "rows-object", "extra-field"])
async def test_a_malformed_body_gets_400(api, raw, code):
    """A body that is not {"rows": [...]} gets 400 with a code."""
    status, body = await api.call("PUT", "/companies", raw=raw)
    assert (status, body["error"]) == (400, code)


async def test_more_than_1000_rows_are_refused(api):
    """A batch of 1,001 rows gets 400 and nothing is written."""
    rows = [{"ref": f"C-{n}", "name": f"Company {n}"} for n in range(1001)]
    status, body = await api.put("companies", *rows)
    assert (status, body["error"]) == (400, "invalid_body")
    assert counts()["companies"] == 3


async def test_a_full_batch_of_1000_rows_is_written(api):
    """1,000 new companies in one request are all created."""
    rows = [{"ref": f"C-{n}", "name": f"Company {n}"} for n in range(1000)]
    status, body = await api.put("companies", *rows)
    assert (status, body["created"]) == (200, 1000)
    assert counts()["companies"] == 1003


async def test_lists_page_with_a_cursor_and_one_record_reads_back(api):
    """Paging one at a time visits every contact once; a contact reads back by number, with or without +."""
    seen, path = [], "/contacts?limit=1"
    while True:
        status, body = await api.call("GET", path)
        assert status == 200
        seen += [c["wa_id"] for c in body["contacts"]]
        if body["next_cursor"] is None:
            break
        path = f"/contacts?limit=1&cursor={body['next_cursor']}"
    assert seen == [ASHA, RAVI, "919800000009"]
    status, body = await api.call("GET", f"/contacts/+{ASHA}")
    assert (status, body) == (200, {"wa_id": ASHA, "company_ref": "ASHA-TRADERS", "name": "Asha Mehta",
                                    "role": "customer", "title": "owner"})
    assert (await api.call("GET", "/contacts/12"))[0] == 404
    assert (await api.call("GET", "/orders/ORD-99999"))[0] == 404
    status, body = await api.call("GET", "/orders?company_ref=BHARAT-TEXTILES")
    assert [o["ref"] for o in body["orders"]] == ["ORD-10003"]
    assert (await api.call("GET", "/orders?cursor=nonsense"))[1]["error"] == "invalid_cursor"


async def test_an_order_reads_back_as_it_was_written(api):
    """GET /orders/<ref> returns the fields of the last upsert, the latest status note included."""
    await api.put("companies", COMPANY)
    await api.put("contacts", CONTACT)
    row = {**ORDER, "contact_wa_id": NEW, "status_note": "Booked", "status_at": "2026-12-01T04:30:00Z"}
    await api.put("orders", row)
    status, body = await api.call("GET", "/orders/ORD-20001")
    assert status == 200
    assert body == {**row, "estimated_on": None, "carrier": None, "tracking_no": None,
                    "status_at": "2026-12-01T04:30:00Z"}


async def test_a_defect_is_resolved_and_a_new_one_needs_its_order(api):
    """Resolving DEF-0003 sets status and resolution; a new ref without order, reporter and text is named."""
    row = {"ref": "DEF-0003", "status": "resolved", "resolution": "Shade re-matched and resent"}
    assert (await api.put("defects", row))[1]["updated"] == 1
    status, body = await api.call("GET", "/defects/DEF-0003")
    assert (body["status"], body["resolution"], body["order_ref"]) == ("resolved", "Shade re-matched and resent",
                                                                       "ORD-10003")
    status, body = await api.put("defects", {"ref": "DEF-0100", "status": "open"})
    assert status == 422
    assert [p["field"] for p in body["problems"]] == ["order_ref", "reporter_wa_id", "description"]
    status, body = await api.put("defects", {"ref": "DEF-0001", "status": "resolved"})
    assert (status, body["problems"][0]["field"]) == (422, "resolution")


async def test_a_production_run_is_created_and_moved(api):
    """A run for an order is created, then marked done; a run naming an unknown order is refused."""
    run = {"ref": "RUN-9001", "line": "Line D", "product": "Denim", "order_ref": "ORD-10003", "planned_qty": 100,
           "done_qty": 0, "starts_at": "2026-12-08T06:00:00+05:30", "ends_at": "2026-12-08T14:00:00+05:30",
           "status": "planned"}
    assert (await api.put("production-runs", run))[1]["created"] == 1
    assert (await api.put("production-runs", {**run, "done_qty": 100, "status": "done"}))[1]["updated"] == 1
    status, body = await api.call("GET", "/production-runs/RUN-9001")
    assert (body["status"], body["done_qty"], body["starts_at"]) == ("done", 100, "2026-12-08T00:30:00Z")
    status, body = await api.put("production-runs", {**run, "ref": "RUN-9002", "order_ref": "ORD-00000"})
    assert (status, body["problems"][0]["code"]) == (422, "unknown_order")


async def test_renaming_a_company_renames_it_for_its_contacts(api):
    """A company's new name is what the bot and the operator views show for its contacts."""
    await api.put("companies", {"ref": "ASHA-TRADERS", "name": "Asha Traders Pvt Ltd"})
    assert find_customer(ASHA).company == "Asha Traders Pvt Ltd"
    assert recent_orders(ASHA, limit=1)[0].company == "Asha Traders Pvt Ltd"


async def test_the_same_new_batch_sent_five_times_at_once_is_written_once(api):
    """Five concurrent copies of one batch create each company once; the other copies find them unchanged."""
    rows = [{"ref": f"C-{n}", "name": f"Company {n}"} for n in range(50)]
    answers = await asyncio.gather(*(api.put("companies", *rows) for _ in range(5)))
    assert [status for status, _ in answers] == [200] * 5
    assert sorted(body["created"] for _, body in answers) == [0, 0, 0, 0, 50]
    assert counts()["companies"] == 53


@pytest.mark.parametrize("env, message", [
    ({"DATA_API_TOKEN": "short"}, "at least 16"),
    ({"DATA_API_TOKEN": "x" * 20, "MANAGEMENT_API_TOKEN": "x" * 20}, "differ"),
], ids=["short", "same-as-staff"])
async def test_a_weak_or_shared_token_stops_start_up(env, message):
    """A short data token, or the operators' token reused, is refused when the channel is built."""
    with pytest.raises(ConfigError, match=message):
        DataConfig.from_env(env)
