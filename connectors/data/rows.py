"""Pure validation of the business's rows: raw rows in, typed records or field-level problems out.

The data API (JSON) and the CSV importer (text) share it. JSON rows must carry JSON types (a quantity
is a number); CSV cells are text, so an empty cell means "no value" and numbers are read from digits.
A row states the whole record: an optional field left out is cleared. Every problem of every row is
reported at once, as (row, field, code, message), where row is the row's index in the batch.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Optional, Sequence

from database.models import DEFECT_STATUSES, ORDER_STATUSES, ROLES, RUN_STATUSES

MAX_ROWS = 1000  # per API request; a CSV import has no limit
REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # no "/" or spaces: a ref is also a URL path segment
ORDER_REF_MAX = 20
WA_ID = re.compile(r"\+?([1-9][0-9]{6,14})")  # E.164 digits with country code, optional plus
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)"
                       r"(Z|[+-][0-9]{2}:[0-9]{2})")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # never stored; tab and newlines are text
LINE_BREAK = re.compile(r"[\t\n\r]")
MAX_QUANTITY = 1_000_000_000  # fits the 32-bit INTEGER columns everywhere


class Invalid(ValueError):
    """One field's value is refused: a stable code and a sentence for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of one row."""

    row: int
    field: str
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        """Return the problem as the API shows it."""
        return asdict(self)


@dataclass(frozen=True)
class CompanyRecord:
    ref: str
    name: str


@dataclass(frozen=True)
class ContactRecord:
    wa_id: str
    company_ref: str
    name: str
    role: str
    title: Optional[str]


@dataclass(frozen=True)
class OrderRecord:
    ref: str
    company_ref: str
    contact_wa_id: Optional[str]  # who gets the news; None: the company's first customer contact
    product: str
    quantity: int
    status: str
    placed_on: date
    promised_on: date
    estimated_on: Optional[date]
    carrier: Optional[str]
    tracking_no: Optional[str]
    status_note: Optional[str]  # the order event's note when the status changes
    status_at: Optional[datetime]  # when it changed (naive UTC); None: now


@dataclass(frozen=True)
class RunRecord:
    ref: str
    line: str
    product: str
    order_ref: Optional[str]  # None for a stock run
    planned_qty: int
    done_qty: int
    starts_at: datetime  # naive UTC
    ends_at: datetime
    status: str


@dataclass(frozen=True)
class DefectRecord:
    ref: str
    status: str
    resolution: Optional[str]
    order_ref: Optional[str]  # these three are needed only to file a report the system has not seen
    reporter_wa_id: Optional[str]
    description: Optional[str]
    reported_at: Optional[datetime]  # naive UTC; None: now


Record = Any  # one of the records above
Parser = Callable[[Any, bool], Any]


@dataclass(frozen=True)
class Field:
    """One column: its parser, and whether a row must give it."""

    name: str
    parse: Parser
    required: bool = False


@dataclass(frozen=True)
class Kind:
    """One kind of row: its fields, its key field and the record it becomes."""

    name: str
    key: str
    fields: tuple[Field, ...]
    record: type

    @property
    def field_names(self) -> tuple[str, ...]:
        """Return the field names in order."""
        return tuple(f.name for f in self.fields)


def _string(value: Any, csv: bool) -> str:
    """Return a string value: a CSV cell without its surrounding spaces, a JSON value as sent."""
    if not isinstance(value, str):
        raise Invalid("invalid_type", "must be a string")
    return value.strip() if csv else value


def _text(limit: int, multiline: bool = False) -> Parser:
    def parse(value: Any, csv: bool) -> str:
        value = _string(value, csv)
        if len(value) > limit:  # before stripping, as the OpenAPI file's maxLength counts
            raise Invalid("too_long", f"must be at most {limit} characters")
        value = value.strip()
        if not value:
            raise Invalid("blank", "must not be blank")
        if CONTROL.search(value) or (not multiline and LINE_BREAK.search(value)):
            raise Invalid("invalid_text", "must not contain control characters" +
                          ("" if multiline else " or line breaks"))
        return value
    return parse


def _ref(limit: int) -> Parser:
    def parse(value: Any, csv: bool) -> str:
        value = _string(value, csv)
        if not value:
            raise Invalid("blank", "must not be blank")
        if len(value) > limit or not REF.fullmatch(value):
            raise Invalid("invalid_ref", f"must be 1 to {limit} letters, digits, '.', '_' or '-', "
                                         "starting with a letter or digit")
        return value
    return parse


def _wa_id(value: Any, csv: bool) -> str:
    match = WA_ID.fullmatch(_string(value, csv))
    if match is None:
        raise Invalid("invalid_wa_id", "must be a WhatsApp number: 7 to 15 digits with the country code, "
                                       "e.g. 919800000001")
    return match.group(1)


def _one_of(values: tuple[str, ...]) -> Parser:
    def parse(value: Any, csv: bool) -> str:
        if not isinstance(value, str) or _string(value, csv) not in values:
            raise Invalid("invalid_choice", f"must be one of: {', '.join(values)}")
        return _string(value, csv)
    return parse


def _integer(low: int, high: int = MAX_QUANTITY) -> Parser:
    def parse(value: Any, csv: bool) -> int:
        if csv and isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,10}\s*", value):
            value = int(value)
        if isinstance(value, float) and value.is_integer() and not csv:
            value = int(value)  # JSON 5.0 is the number 5
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid("invalid_integer", "must be a whole number")
        if not low <= value <= high:
            raise Invalid("out_of_range", f"must be from {low} to {high}")
        return value
    return parse


def _date(value: Any, csv: bool) -> date:
    if not isinstance(value, str) or not DATE.fullmatch(_string(value, csv)):
        raise Invalid("invalid_date", "must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(_string(value, csv))
    except ValueError:
        raise Invalid("invalid_date", "must be a real calendar date (YYYY-MM-DD)") from None


def _date_time(value: Any, csv: bool) -> datetime:
    match = DATE_TIME.fullmatch(_string(value, csv)) if isinstance(value, str) else None
    if match is None:
        raise Invalid("invalid_date_time", "must be a date-time with its UTC offset, "
                                           "e.g. 2026-12-08T06:00:00+05:30 or 2026-12-08T00:30:00Z")
    day, clock, offset = match.groups()
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if offset == 'Z' else offset}")
        if abs(moment.utcoffset() or timedelta()) >= timedelta(hours=24):
            raise ValueError(offset)
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise Invalid("invalid_date_time", "must be a real date and time with a valid UTC offset") from None


COMPANIES = Kind("companies", "ref", (
    Field("ref", _ref(40), True),
    Field("name", _text(120), True),
), CompanyRecord)

CONTACTS = Kind("contacts", "wa_id", (
    Field("wa_id", _wa_id, True),
    Field("company_ref", _ref(40), True),
    Field("name", _text(120), True),
    Field("role", _one_of(ROLES), True),
    Field("title", _text(60)),
), ContactRecord)

ORDERS = Kind("orders", "ref", (
    Field("ref", _ref(ORDER_REF_MAX), True),
    Field("company_ref", _ref(40), True),
    Field("contact_wa_id", _wa_id),
    Field("product", _text(120), True),
    Field("quantity", _integer(1), True),
    Field("status", _one_of(ORDER_STATUSES), True),
    Field("placed_on", _date, True),
    Field("promised_on", _date, True),
    Field("estimated_on", _date),
    Field("carrier", _text(60)),
    Field("tracking_no", _text(60)),
    Field("status_note", _text(500, multiline=True)),
    Field("status_at", _date_time),
), OrderRecord)

PRODUCTION_RUNS = Kind("production-runs", "ref", (
    Field("ref", _ref(40), True),
    Field("line", _text(40), True),
    Field("product", _text(120), True),
    Field("order_ref", _ref(ORDER_REF_MAX)),
    Field("planned_qty", _integer(1), True),
    Field("done_qty", _integer(0), True),
    Field("starts_at", _date_time, True),
    Field("ends_at", _date_time, True),
    Field("status", _one_of(RUN_STATUSES), True),
), RunRecord)

DEFECTS = Kind("defects", "ref", (
    Field("ref", _ref(20), True),
    Field("status", _one_of(DEFECT_STATUSES), True),
    Field("resolution", _text(2000, multiline=True)),
    Field("order_ref", _ref(ORDER_REF_MAX)),
    Field("reporter_wa_id", _wa_id),
    Field("description", _text(2000, multiline=True)),
    Field("reported_at", _date_time),
), DefectRecord)

# In the order a first load needs them: a contact names its company, a run its order, and so on.
KINDS: dict[str, Kind] = {k.name: k for k in (COMPANIES, CONTACTS, ORDERS, PRODUCTION_RUNS, DEFECTS)}


def validate(kind: Kind, rows: Sequence[Any], csv: bool = False) -> tuple[list[Record], list[Problem]]:
    """Return the typed records, or every problem of every row (then no records)."""
    valid, problems = validate_each(kind, rows, csv)
    return ([], problems) if problems else ([record for _, record in valid], [])


def validate_each(kind: Kind, rows: Sequence[Any], csv: bool = False) -> tuple[list[tuple[int, Record]], list[Problem]]:
    """Return (row index, record) for every valid row, and every problem of the others."""
    valid: list[tuple[int, Record]] = []
    problems: list[Problem] = []
    seen: dict[Any, int] = {}
    for index, row in enumerate(rows):
        record, row_problems = validate_row(kind, index, row, csv)
        problems.extend(row_problems)
        if record is None:
            continue
        key = getattr(record, kind.key)
        if key in seen:
            problems.append(Problem(index, kind.key, "duplicate",
                                    f"{kind.key} {key} is already in row {seen[key]} of this batch"))
        else:
            seen[key] = index
            valid.append((index, record))
    return valid, problems


def validate_row(kind: Kind, index: int, row: Any, csv: bool = False) -> tuple[Optional[Record], list[Problem]]:
    """Return one row's record, or its problems."""
    if not isinstance(row, Mapping):
        return None, [Problem(index, "", "invalid_row", "each row must be an object")]
    problems = [Problem(index, str(name), "unknown_field", f"{kind.name} rows have no field {name!r}")
                for name in row if name not in kind.field_names]
    values: dict[str, Any] = {}
    for spec in kind.fields:
        value = row.get(spec.name)
        if csv and isinstance(value, str) and not value.strip():
            value = None  # an empty cell
        if value is None:
            if spec.required:
                problems.append(Problem(index, spec.name, "required", "is required"))
            values[spec.name] = None
            continue
        try:
            values[spec.name] = spec.parse(value, csv)
        except Invalid as exc:
            problems.append(Problem(index, spec.name, exc.code, exc.message))
    if not problems:
        problems.extend(_cross_checks(kind, index, values))
    if problems:
        return None, problems
    return kind.record(**values), []


def _cross_checks(kind: Kind, index: int, values: dict[str, Any]) -> list[Problem]:
    """Return problems that involve two fields of one row."""
    if kind is ORDERS and values["promised_on"] < values["placed_on"]:
        return [Problem(index, "promised_on", "before_placed_on", "must not be before placed_on")]
    if kind is PRODUCTION_RUNS and values["ends_at"] <= values["starts_at"]:
        return [Problem(index, "ends_at", "not_after_starts_at", "must be after starts_at")]
    if kind is DEFECTS and values["status"] == "resolved" and not values["resolution"]:
        return [Problem(index, "resolution", "required", "is required when status is resolved")]
    return []


def to_json(record: Record) -> dict[str, Any]:
    """Return a record as JSON values: dates as YYYY-MM-DD, date-times as UTC with Z."""
    out: dict[str, Any] = {}
    for spec in fields(record):
        value = getattr(record, spec.name)
        if isinstance(value, datetime):
            value = value.replace(microsecond=0).isoformat() + "Z"
        elif isinstance(value, date):
            value = value.isoformat()
        out[spec.name] = value
    return out
