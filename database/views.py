"""Frozen results of the query functions; nothing here touches a Session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class CustomerView:
    wa_id: str
    name: str
    company: str
    role: str

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"


@dataclass(frozen=True, slots=True)
class OrderView:
    ref: str
    product: str
    quantity: int
    status: str
    placed_on: date
    promised_on: date
    estimated_on: date | None
    carrier: str | None
    tracking_no: str | None
    company: str
    last_event: str | None
    last_event_at: datetime | None  # naive UTC


@dataclass(frozen=True, slots=True)
class DefectView:
    ref: str
    order_ref: str
    description: str
    photo_ref: str | None
    status: str
    resolution: str | None
    created_at: datetime  # naive UTC
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RunView:
    line: str
    product: str
    order_ref: str | None  # None for stock runs
    planned_qty: int
    done_qty: int
    starts_at: datetime  # naive UTC
    ends_at: datetime
    status: str

    @property
    def percent_done(self) -> int:
        if self.planned_qty <= 0:
            return 0
        return min(100, self.done_qty * 100 // self.planned_qty)


@dataclass(frozen=True, slots=True)
class TicketView:
    ref: str
    description: str
    status: str
    created_at: datetime  # naive UTC


@dataclass(frozen=True, slots=True)
class DocumentView:
    order_ref: str
    kind: str
    filename: str
    content_type: str
    size_bytes: int | None  # None for a referenced URL
    sha256: str | None
    storage_path: str | None  # relative to DOCUMENTS_DIR; None for a referenced URL
    url: str | None
    created_at: datetime  # naive UTC
