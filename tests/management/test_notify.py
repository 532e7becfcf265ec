"""Status-change notifications: a baseline first, then one message per change, whatever the number of scans."""
from __future__ import annotations

from datetime import timedelta
from typing import Optional

from sqlalchemy import func, select, update

from database.clock import utcnow
from database.models import DefectReport, Order
from database.session import sessions
from connectors.management import outbound
from connectors.management.config import ManagementConfig
from connectors.management.notify import scan_once
from connectors.management.tables import notifications
from tests.management.conftest import ASHA, RAVI, add_contact, outbox_rows

CONFIG = ManagementConfig(notify_template="order_update", notify_template_language="en_US")


def set_status(model, ref: str, status: str, resolution: Optional[str] = None) -> None:
    """Change a record's status the way any back-office tool would: a plain UPDATE."""
    values = {"status": status} | ({"resolution": resolution} if resolution else {})
    with sessions().begin() as session:
        session.execute(update(model.__table__).where(model.__table__.c.ref == ref).values(**values))


def recorded(outcome: str) -> int:
    """Return how many notifications rows have this outcome."""
    with sessions()() as session:
        return session.scalar(select(func.count()).select_from(notifications)
                              .where(notifications.c.outcome == outcome))


def test_the_first_scan_only_records_a_baseline(seeded):
    """Existing orders and defect reports are recorded silently: nobody is told about the past."""
    counts = scan_once(CONFIG)
    assert counts == {"baseline": 11} and outbox_rows() == []
    assert scan_once(CONFIG) == {}


def test_an_order_change_is_told_once_as_text_inside_the_window(seeded):
    """ORD-10002 moving to shipped gives Asha one free-form message, however many scans follow."""
    add_contact(ASHA, last_inbound_at=utcnow() - timedelta(hours=3))
    scan_once(CONFIG)
    set_status(Order, "ORD-10002", "shipped")
    assert scan_once(CONFIG) == {"queued": 1}
    assert scan_once(CONFIG) == {} and scan_once(CONFIG) == {}
    [row] = outbox_rows(ASHA)
    assert (row.kind, row.inbound_wamid) == ("notice", "notify:order:ORD-10002:shipped")
    assert row.payload["text"]["body"] == ("🚚 Update on your order *ORD-10002* (Polyester fabric roll): "
                                           "it is now *shipped*.")


def test_outside_the_window_the_template_carries_reference_and_status(seeded):
    """A customer silent for days gets NOTIFY_TEMPLATE with the reference and the new status as parameters."""
    add_contact(RAVI, last_inbound_at=utcnow() - timedelta(days=3))
    scan_once(CONFIG)
    set_status(Order, "ORD-10003", "ready")
    assert scan_once(CONFIG) == {"queued": 1}
    [row] = outbox_rows(RAVI)
    assert row.kind == "template"
    assert row.payload["template"] == {
        "name": "order_update", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "ORD-10003"},
                                                        {"type": "text", "text": "ready for dispatch"}]}]}


def test_without_a_template_a_closed_window_is_recorded_not_sent(seeded):
    """No NOTIFY_TEMPLATE and no message from the customer in 24 h: nothing is sent, the change is recorded."""
    config = ManagementConfig()
    scan_once(config)
    set_status(Order, "ORD-10003", "ready")
    assert scan_once(config) == {"skipped_no_template": 1}
    assert outbox_rows() == [] and scan_once(config) == {}


def test_an_opted_out_customer_is_not_told(seeded):
    """A customer who sent STOP gets no notification."""
    add_contact(ASHA, last_inbound_at=utcnow(), opted_out=True)
    scan_once(CONFIG)
    set_status(Order, "ORD-10002", "ready")
    assert scan_once(CONFIG) == {"skipped_opted_out": 1} and outbox_rows() == []


def test_a_defect_is_told_only_when_resolved(seeded):
    """Investigating is recorded silently; resolved tells the reporter, with the resolution."""
    add_contact(RAVI, last_inbound_at=utcnow())
    scan_once(CONFIG)
    set_status(DefectReport, "DEF-0003", "investigating")
    assert scan_once(CONFIG) == {"not_notified": 1}
    set_status(DefectReport, "DEF-0003", "resolved", resolution="Replacement batch dispatched.")
    assert scan_once(CONFIG) == {"queued": 1}
    [row] = outbox_rows(RAVI)
    assert row.payload["text"]["body"] == ("✅ Your defect report *DEF-0003* for order ORD-10003 is resolved.\n"
                                           "Resolution: Replacement batch dispatched.")


def test_a_status_seen_before_is_not_told_again(seeded):
    """shipped -> ready -> shipped tells shipped and ready once each, not shipped twice."""
    add_contact(ASHA, last_inbound_at=utcnow())
    scan_once(CONFIG)
    for status in ("shipped", "ready", "shipped"):
        set_status(Order, "ORD-10002", status)
        scan_once(CONFIG)
    assert [r.inbound_wamid for r in outbox_rows(ASHA)] == ["notify:order:ORD-10002:shipped",
                                                           "notify:order:ORD-10002:ready"]


def test_a_message_queued_before_a_crash_is_not_queued_again(seeded):
    """A scan that died after queueing but before recording leaves a row; the next scan adds no second one."""
    add_contact(ASHA, last_inbound_at=utcnow())
    scan_once(CONFIG)
    set_status(Order, "ORD-10002", "shipped")
    outbound.enqueue_text(ASHA, "notify:order:ORD-10002:shipped", "notice", "left by the dead scan")
    assert scan_once(CONFIG) == {"queued": 1}
    assert len(outbox_rows(ASHA)) == 1 and recorded("queued") == 1
