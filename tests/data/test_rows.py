"""Pure validation of data rows: JSON is taken as typed, CSV cells as text; every problem is named."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from connectors.data.rows import CONTACTS, DEFECTS, ORDERS, PRODUCTION_RUNS, to_json, validate

ORDER = {"ref": "ORD-1", "company_ref": "C1", "product": "Yarn", "quantity": 5, "status": "received",
         "placed_on": "2026-12-01", "promised_on": "2026-12-09"}
RUN = {"ref": "R1", "line": "Line A", "product": "Yarn", "planned_qty": 10, "done_qty": 0,
       "starts_at": "2026-12-08T06:00:00+05:30", "ends_at": "2026-12-08T14:00:00+05:30", "status": "planned"}


def codes(kind, rows, csv=False):
    """Return (row, field, code) of every problem."""
    return [(p.row, p.field, p.code) for p in validate(kind, rows, csv)[1]]


def test_a_csv_row_of_text_becomes_a_typed_record():
    """Digits become numbers, dates become dates, empty cells become no value, cells lose their spaces."""
    cells = {**{k: str(v) for k, v in ORDER.items()}, "quantity": " 5 ", "carrier": "", "estimated_on": " "}
    [record], problems = validate(ORDERS, [cells], csv=True)
    assert problems == []
    assert (record.quantity, record.placed_on, record.carrier, record.estimated_on) == (5, date(2026, 12, 1), None, None)


@pytest.mark.parametrize("field, value, code", [
    ("quantity", "5", "invalid_integer"), ("quantity", True, "invalid_integer"), ("quantity", 0, "out_of_range"),
    ("quantity", 2.5, "invalid_integer"), ("ref", " ORD-1", "invalid_ref"), ("ref", "ORD/1", "invalid_ref"),
    ("ref", "O" * 21, "invalid_ref"), ("status", "Received", "invalid_choice"), ("product", "   ", "blank"),
    ("product", "a\nb", "invalid_text"), ("product", "x\x00", "invalid_text"), ("product", "p" * 121, "too_long"),
    ("placed_on", "2026-13-01", "invalid_date"), ("placed_on", "01/12/2026", "invalid_date"),
    ("contact_wa_id", "0919800000001", "invalid_wa_id"), ("status_at", "2026-12-01T10:00", "invalid_date_time"),
    ("status_at", "2026-12-01T25:00Z", "invalid_date_time"), ("colour", "red", "unknown_field"),
], ids=lambda v: str(v)[:12])
def test_a_bad_json_value_is_named_by_field_and_code(field, value, code):
    """Each kind of wrong value gets its own code on its own field."""
    assert codes(ORDERS, [{**ORDER, field: value}]) == [(0, field, code)]


def test_missing_fields_and_duplicates_are_named_per_row():
    """Row 0 lacks two required fields; row 2 repeats row 1's ref."""
    rows = [{"ref": "ORD-1"}, ORDER, ORDER]
    problems = codes(ORDERS, rows)
    assert (0, "company_ref", "required") in problems and (0, "quantity", "required") in problems
    assert problems[-1] == (2, "ref", "duplicate")


def test_numbers_and_times_are_normalised():
    """A + before a number is dropped; a moment with an offset is stored as UTC and read back with Z."""
    [contact], _ = validate(CONTACTS, [{"wa_id": "+919800000001", "company_ref": "C1", "name": "A", "role": "staff"}])
    assert contact.wa_id == "919800000001"
    [run], _ = validate(PRODUCTION_RUNS, [RUN])
    assert run.starts_at == datetime(2026, 12, 8, 0, 30)
    assert to_json(run)["starts_at"] == "2026-12-08T00:30:00Z"


@pytest.mark.parametrize("kind, row, problem", [
    (ORDERS, {**ORDER, "promised_on": "2026-11-30"}, (0, "promised_on", "before_placed_on")),
    (PRODUCTION_RUNS, {**RUN, "ends_at": RUN["starts_at"]}, (0, "ends_at", "not_after_starts_at")),
    (DEFECTS, {"ref": "DEF-1", "status": "resolved"}, (0, "resolution", "required")),
], ids=["promised-before-placed", "run-ends-before-start", "resolved-without-resolution"])
def test_rules_across_two_fields(kind, row, problem):
    """A row whose fields contradict each other is refused naming the later field."""
    assert codes(kind, [row]) == [problem]
