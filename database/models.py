"""Tables for companies, their contacts, orders, defects, production runs and support tickets.

Datetimes are naive UTC; dates (placed_on, promised_on, ...) are calendar days
in the assistant's timezone. Status values are checked by the database. Companies, orders,
defect reports and production runs carry the business's own reference (`ref`, unique), and a
contact is keyed by its WhatsApp number, so the data API's upserts are idempotent.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

from database.clock import utcnow

# Named constraints keep future SQLite batch migrations able to drop them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))

ROLES = ("customer", "staff")
ORDER_STATUSES = ("received", "in_production", "ready", "shipped", "delivered", "cancelled")
DEFECT_STATUSES = ("open", "investigating", "resolved")
RUN_STATUSES = ("planned", "running", "done", "delayed")
TICKET_STATUSES = ("open", "closed")
DOCUMENT_KINDS = ("invoice", "packing_list", "test_certificate")


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


class Company(Base):
    __tablename__ = "companies"

    id = Column(Integer, primary_key=True)
    ref = Column(String(40), nullable=False, unique=True)  # the business's own customer code
    name = Column(String(120), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class Customer(Base):
    """A WhatsApp contact of a company (owner, purchase manager, staff member)."""

    __tablename__ = "customers"
    __table_args__ = (_one_of("role", ROLES),)

    id = Column(Integer, primary_key=True)
    wa_id = Column(String(20), nullable=False, unique=True)  # digits only, e.g. 919800000001
    name = Column(String(120), nullable=False)
    company_id = Column(Integer, ForeignKey("companies.id"), nullable=False, index=True)  # visibility
    company = Column(String(120), nullable=False)  # copy of companies.name, kept by connectors/data
    role = Column(String(10), nullable=False, default="customer")
    title = Column(String(60))  # "owner", "purchase manager"
    created_at = Column(DateTime, nullable=False, default=utcnow)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (_one_of("status", ORDER_STATUSES),)

    id = Column(Integer, primary_key=True)
    ref = Column(String(20), nullable=False, unique=True)  # ORD-10001
    company_id = Column(Integer, ForeignKey("companies.id"), nullable=False, index=True)  # the owner
    # Who gets the order's news; NULL: the company's first customer contact (notify.py).
    customer_id = Column(Integer, ForeignKey("customers.id"), index=True)
    product = Column(String(120), nullable=False)
    quantity = Column(Integer, nullable=False)
    status = Column(String(20), nullable=False, default="received")
    placed_on = Column(Date, nullable=False)
    promised_on = Column(Date, nullable=False)
    estimated_on = Column(Date)
    carrier = Column(String(60))
    tracking_no = Column(String(60))
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    company = relationship("Company")
    customer = relationship("Customer")
    events = relationship("OrderEvent", order_by="OrderEvent.at")


class OrderEvent(Base):
    __tablename__ = "order_events"
    __table_args__ = (_one_of("status", ORDER_STATUSES),)

    id = Column(Integer, primary_key=True)
    order_id = Column(Integer, ForeignKey("orders.id"), nullable=False, index=True)
    at = Column(DateTime, nullable=False, default=utcnow)
    status = Column(String(20), nullable=False)
    note = Column(Text)


class DefectReport(Base):
    __tablename__ = "defect_reports"
    __table_args__ = (_one_of("status", DEFECT_STATUSES),)

    id = Column(Integer, primary_key=True)
    ref = Column(String(20), nullable=False, unique=True)  # DEF-0001
    order_id = Column(Integer, ForeignKey("orders.id"), nullable=False, index=True)
    # The reporter; who may see the report follows the order's owner instead.
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    description = Column(Text, nullable=False)
    photo_ref = Column(String(255))  # WhatsApp media id or stored file key
    status = Column(String(20), nullable=False, default="open")
    resolution = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    order = relationship("Order")
    customer = relationship("Customer")


class ProductionRun(Base):
    __tablename__ = "production_runs"
    __table_args__ = (_one_of("status", RUN_STATUSES),)

    id = Column(Integer, primary_key=True)
    ref = Column(String(40), nullable=False, unique=True)  # the business's own run reference
    line = Column(String(40), nullable=False)  # "Line A"
    product = Column(String(120), nullable=False)
    order_id = Column(Integer, ForeignKey("orders.id"), index=True)  # NULL for stock runs
    planned_qty = Column(Integer, nullable=False)
    done_qty = Column(Integer, nullable=False, default=0)
    starts_at = Column(DateTime, nullable=False, index=True)
    ends_at = Column(DateTime, nullable=False)
    status = Column(String(20), nullable=False, default="planned")

    order = relationship("Order")


class SupportTicket(Base):
    __tablename__ = "support_tickets"
    __table_args__ = (_one_of("status", TICKET_STATUSES),)

    id = Column(Integer, primary_key=True)
    ref = Column(String(20), nullable=False, unique=True)  # TCK-0001
    wa_id = Column(String(20), nullable=False, index=True)  # sender, registered or not
    customer_id = Column(Integer, ForeignKey("customers.id"), index=True)
    description = Column(Text, nullable=False)
    status = Column(String(20), nullable=False, default="open")
    created_at = Column(DateTime, nullable=False, default=utcnow)


HANDOFF_STATES = ("waiting", "released")


class Handoff(Base):
    """A conversation a person was asked to take over; the bot stays silent while it is open.

    `open_key` equals `wa_id` while the handoff waits and is NULL once released, so a unique
    constraint allows one open handoff per number (NULLs never clash) on every database.
    """

    __tablename__ = "handoffs"
    __table_args__ = (_one_of("state", HANDOFF_STATES),)

    id = Column(Integer, primary_key=True)
    wa_id = Column(String(160), nullable=False, index=True)
    open_key = Column(String(160), unique=True)
    state = Column(String(10), nullable=False, default="waiting")
    requested_at = Column(DateTime, nullable=False, default=utcnow)
    last_activity_at = Column(DateTime, nullable=False, default=utcnow)  # request or staff reply
    staff_replies = Column(Integer, nullable=False, default=0)
    released_at = Column(DateTime)
    released_by = Column(String(10))  # staff, idle


class OrderDocument(Base):
    """The current document of one kind for an order: a stored file or an https URL (never both).

    One row per (order, kind); uploading again replaces the row. Migration 0009.
    """

    __tablename__ = "order_documents"
    __table_args__ = (
        _one_of("kind", DOCUMENT_KINDS),
        CheckConstraint("(storage_path IS NULL) <> (url IS NULL)", name="source"),
        UniqueConstraint("order_id", "kind", name="uq_order_documents_order_id_kind"),
    )

    id = Column(Integer, primary_key=True)
    order_id = Column(Integer, ForeignKey("orders.id"), nullable=False)
    kind = Column(String(20), nullable=False)
    filename = Column(String(120), nullable=False)  # sanitised, shown to the customer
    content_type = Column(String(100), nullable=False)  # from the content, not the upload's word
    size_bytes = Column(BigInteger)  # NULL for a referenced URL
    sha256 = Column(String(64))  # hex; NULL for a referenced URL
    storage_path = Column(String(1000))  # relative to DOCUMENTS_DIR
    url = Column(String(2000))  # https only
    created_at = Column(DateTime, nullable=False, default=utcnow)

    order = relationship("Order")
