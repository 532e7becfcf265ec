"""Ids typed in any form are understood, and answers read well on a phone."""
from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

import pytest

from actions import formatting as fmt
from database.views import OrderView
from actions.parsing import normalize_defect_id, normalize_order_id, orders_named

TODAY = date(2026, 11, 24)


@pytest.mark.parametrize("text", ["ORD-10001", "ord 10001", "ord-10001", "ORD10001", "Ord #10001", "order 10001", "where is ord_10001?"])
def test_order_ids_in_any_case_and_spacing(text):
    """Every way of writing an order id normalizes to ORD-10001."""
    assert normalize_order_id(text) == "ORD-10001"


@pytest.mark.parametrize("text", ["DEF-0001", "def 0001", "DEF0001", "def-1", "defect #0001"])
def test_defect_ids_in_any_case_and_spacing(text):
    """Every way of writing a defect id normalizes to DEF-0001."""
    assert normalize_defect_id(text) == "DEF-0001"


@pytest.mark.parametrize("text", ["hello", "10001", "ORD-1", "order please", None])
def test_text_without_an_id_gives_none(text):
    """Text without an id is not mistaken for one."""
    assert normalize_order_id(text) is None


@pytest.mark.parametrize(
    "day, label",
    [(date(2026, 11, 24), "today"), (date(2026, 11, 25), "tomorrow"), (date(2026, 11, 23), "yesterday"),
     (date(2026, 11, 26), "Thu 26 Nov"), (date(2027, 1, 5), "Tue 5 Jan 2027"), (None, "not set")],
)
def test_dates_read_like_people_say_them(day, label):
    """Dates near today are words; others are short weekday dates."""
    assert fmt.human_date(day, TODAY) == label


def _order(**changes) -> OrderView:
    base = dict(
        ref="ORD-10001", product="Cotton yarn 40s", quantity=200, status="shipped", placed_on=date(2026, 11, 12),
        promised_on=date(2026, 11, 26), estimated_on=date(2026, 11, 25), carrier="BlueDart",
        tracking_no="BD123456789IN", company="Asha Traders", last_event="Dispatched from Surat plant",
        last_event_at=datetime(2026, 11, 21, 5, 30),
    )
    base.update(changes)
    return OrderView(**base)


def test_order_status_puts_the_status_first():
    """The first line of an order answer is its id and status; delivery, carrier and last update follow."""
    lines = fmt.order_status(_order(), TODAY).splitlines()
    assert lines[0] == "*ORD-10001* is *shipped 🚚*"
    assert "Expected delivery: *tomorrow*" in lines
    assert "Carrier: BlueDart · tracking BD123456789IN" in lines
    assert lines[-1] == "Last update: Dispatched from Surat plant (Sat 21 Nov)"


def test_a_late_order_says_so():
    """An estimate after the promised date is shown as running late."""
    text = fmt.delivery_line(_order(estimated_on=date(2026, 11, 30)), TODAY)
    assert "running late" in text and "Mon 30 Nov" in text


def test_page_footer_offers_more_only_when_there_is_more():
    """Lists longer than a page end with a MORE hint; complete lists do not."""
    assert fmt.page_footer(5, 7) == "Showing 5 of 7. Reply *MORE* for the next 2."
    assert fmt.page_footer(7, 7) == ""


PRODUCTS = [("ORD-10001", "Cotton yarn 40s"), ("ORD-10002", "Polyester fabric roll"), ("ORD-10004", "Cotton yarn 30s"),
            ("ORD-10007", "Polyester yarn 150D"), ("ORD-10008", "Silk blend fabric roll")]


@pytest.mark.parametrize("text, named", [
    ("we had placed order for polyester roll last month, kindly tell me the status", ["ORD-10002"]),
    ("mera cotton wala order kahan hai", ["ORD-10001", "ORD-10004"]),
    ("status of the 150D yarn", ["ORD-10007"]),
    ("my fabric rolls", ["ORD-10002", "ORD-10008"]),
    ("where is my order", []),
    ("/track_order", []),
])
def test_an_order_is_found_by_the_product_the_customer_names(text, named):
    """The best-named product wins; a tie offers the tied orders; no product word, no guess."""
    candidates = [SimpleNamespace(ref=ref, product=product) for ref, product in PRODUCTS]
    assert [o.ref for o in orders_named(text, candidates)] == named
