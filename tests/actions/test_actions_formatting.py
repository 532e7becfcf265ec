"""What the answers look like on a phone: human dates, local days, no repeated facts (pure rendering)."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from actions import formatting as fmt
from database.views import DefectView, OrderView, RunView

TODAY = date(2026, 11, 24)  # a Tuesday
IST = ZoneInfo("Asia/Kolkata")


@pytest.fixture(autouse=True)
def india(monkeypatch):
    monkeypatch.setenv("ASSISTANT_TIMEZONE", "Asia/Kolkata")


def order(status: str, **changes) -> OrderView:
    fields = dict(
        ref="ORD-10001", product="Cotton yarn 40s", quantity=200, status=status,
        placed_on=date(2026, 11, 12), promised_on=date(2026, 11, 26), estimated_on=date(2026, 11, 25),
        carrier=None, tracking_no=None, company="Asha Traders",
        last_event="Dispatched from Surat plant", last_event_at=datetime(2026, 11, 21, 5, 30),
    )
    fields.update(changes)
    return OrderView(**fields)


@pytest.mark.parametrize(
    "day, shown",
    [
        (date(2026, 11, 24), "today"),
        (date(2026, 11, 25), "tomorrow"),
        (date(2026, 11, 23), "yesterday"),
        (date(2026, 11, 27), "Fri 27 Nov"),
        (date(2027, 1, 5), "Tue 5 Jan 2027"),
        (None, "not set"),
    ],
    ids=["today", "tomorrow", "yesterday", "this-year", "next-year", "missing"],
)
def test_dates_read_like_people_say_them(day, shown):
    """Dates are "today", "tomorrow", "yesterday" or a short weekday date, with the year only when it differs."""
    assert fmt.human_date(day, TODAY) == shown


def test_a_report_filed_late_evening_utc_counts_as_the_local_day():
    """A report stored at 20:00 UTC on the 23rd was filed on the 24th in India, so it reads "today"."""
    defect = DefectView(
        ref="DEF-0004", order_ref="ORD-10001", description="Cones wet", photo_ref=None, status="open",
        resolution=None, created_at=datetime(2026, 11, 23, 20, 0), updated_at=datetime(2026, 11, 23, 20, 0),
    )
    assert "Reported today" in fmt.defect_status(defect, TODAY)
    assert "reported today" in fmt.defect_row(defect, TODAY)


@pytest.mark.parametrize(
    "status, reads, not_reads",
    [
        ("delivered", "*ORD-10001* has been delivered ✅ (Sat 21 Nov)", "Expected delivery"),
        ("cancelled", "*ORD-10001* was cancelled ✖️, so it has no delivery date.", "Expected delivery"),
        ("shipped", "*ORD-10001*: Expected delivery: *tomorrow*\nStatus: shipped 🚚", "promised"),
    ],
)
def test_the_delivery_answer_starts_with_the_fact(status, reads, not_reads):
    """The delivery answer leads with the date, or says plainly that it was delivered or cancelled."""
    answer = fmt.delivery_estimate(order(status), TODAY)
    assert answer == reads
    assert not_reads not in answer


def test_a_late_order_says_so():
    """An order estimated after its promised day shows both days and that it is running late."""
    late = order("in_production", promised_on=date(2026, 11, 25), estimated_on=date(2026, 11, 27))
    assert "Expected delivery: *Fri 27 Nov* (promised tomorrow, running late)" in fmt.order_status(late, TODAY)


@pytest.mark.parametrize("status", ["delivered", "cancelled"])
def test_closed_orders_do_not_repeat_their_status(status):
    """A delivered or cancelled order names its status once, not again as a delivery line."""
    row = fmt.order_row(order(status), TODAY)
    detail = fmt.order_status(order(status), TODAY)
    assert row.lower().count(status) == 1
    assert detail.lower().count(status) == 1


def test_week_rows_capitalise_only_the_first_letter():
    """A run later in the week reads "Fri 27 Nov", not "Fri 27 nov"."""
    run = RunView(
        line="Line C", product="Viscose blend yarn", order_ref="ORD-10005", planned_qty=150, done_qty=0,
        starts_at=datetime(2026, 11, 27, 0, 30), ends_at=datetime(2026, 11, 27, 8, 30), status="planned",
    )
    assert fmt.run_row(run, TODAY, IST, with_day=True).startswith("Fri 27 Nov 06:00–14:00 · Line C")


def test_a_list_without_buttons_stays_one_message():
    """Text-only lists have no blank lines, which channels would split into separate chat bubbles."""
    text = fmt.join_lines("🏭 2 runs:", ["Today 06:00\nYarn", "Tomorrow 06:00\nFabric"], "Showing 2 of 3.")
    assert "\n\n" not in text
    assert text == "🏭 2 runs:\n• Today 06:00\n   Yarn\n• Tomorrow 06:00\n   Fabric\nShowing 2 of 3."
