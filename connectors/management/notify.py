"""Tell customers when an order's status changes or a defect report is resolved, once per change.

A periodic scan (NOTIFY_SCAN_SECONDS) compares each order's and defect report's current status with
the `notifications` rows: a record never seen gets a silent baseline row; a status not seen before
for a known record is a change. The message is enqueued under the key
`notify:<entity>:<ref>:<status>` before the row is written, so a crash in between, a second scan or
a second instance can never send it twice. Inside the 24-hour window it is free-form text; outside
it the template NOTIFY_TEMPLATE is sent with two body parameters: the reference and the new status.
A status the record had before (shipped, back to ready, shipped again) is not announced again.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import exists, func, literal, null, select, union_all
from sqlalchemy.orm import aliased

from database.clock import utcnow
from database.models import Customer, DefectReport, Order
from database.session import lock_for_write, sessions
from database.statuses import DEFECT_STATUS, ORDER_STATUS
from connectors.management import outbound
from connectors.management.config import ManagementConfig
from connectors.management.inputs import Template
from connectors.management.tables import notifications
from connectors.whatsapp.store import insert_ignore

logger = logging.getLogger(__name__)

ANNOUNCED = {"order": None, "defect": frozenset({"resolved"})}  # None: every new status


@dataclass(frozen=True)
class Change:
    """A record whose current status has no notifications row yet."""

    entity: str
    ref: str
    status: str
    wa_id: Optional[str]
    known: bool  # a row for an earlier status exists, so this is a change, not a first sighting
    detail: Optional[str]  # the order's product, or the defect's order ref
    resolution: Optional[str]


def unseen() -> list[Change]:
    """Return every order and defect report whose current status is not recorded yet."""
    n = notifications.c
    reporter, owner = aliased(Customer), aliased(Customer)

    def candidates(entity: str, ref, status, wa_id, detail, resolution, base):
        seen = exists().where(n.entity == entity, n.ref == ref, n.status == status)
        known = exists().where(n.entity == entity, n.ref == ref)
        return base.add_columns(literal(entity).label("entity"), ref.label("ref"), status.label("status"),
                                wa_id.label("wa_id"), known.label("known"), detail.label("detail"),
                                resolution.label("resolution")).where(~seen)

    # An order without its own contact tells the company's first customer contact.
    first_contact = (select(Customer.wa_id).where(Customer.company_id == Order.company_id, Customer.role == "customer")
                     .order_by(Customer.id).limit(1).scalar_subquery())
    orders = candidates("order", Order.ref, Order.status, func.coalesce(owner.wa_id, first_contact), Order.product,
                        null(),
                        select().select_from(Order).join(owner, owner.id == Order.customer_id, isouter=True))
    defects = candidates("defect", DefectReport.ref, DefectReport.status, reporter.wa_id, Order.ref,
                         DefectReport.resolution,
                         select().select_from(DefectReport)
                         .join(reporter, reporter.id == DefectReport.customer_id, isouter=True)
                         .join(Order, Order.id == DefectReport.order_id, isouter=True))
    stmt = union_all(orders, defects)
    with sessions()() as session:
        return [Change(r.entity, r.ref, r.status, r.wa_id, bool(r.known), r.detail, r.resolution)
                for r in session.execute(stmt)]


def handle(change: Change, config: ManagementConfig, now: Optional[datetime] = None) -> str:
    """Announce one change if it should be, record it, and return the outcome."""
    now = now or utcnow()
    key = f"notify:{change.entity}:{change.ref}:{change.status}"
    outcome = _decide(change, config, now)
    if outcome in ("text", "template"):
        if outcome == "text":
            outbound.enqueue_text(change.wa_id or "", key, outbound.KIND_NOTICE, message_text(change))
        else:
            outbound.enqueue_template(change.wa_id or "", key, template_for(change, config))
        outcome = "queued"
    row = {"entity": change.entity, "ref": change.ref, "status": change.status, "wa_id": change.wa_id,
           "outcome": outcome, "outbox_key": key if outcome == "queued" else None, "created_at": now}
    with sessions().begin() as session:
        lock_for_write(session)
        insert_ignore(session, notifications, row, ["entity", "ref", "status"])
    return outcome


def scan_once(config: ManagementConfig) -> dict[str, int]:
    """Record every unseen status, announcing changes; return how many of each outcome."""
    counts: dict[str, int] = {}
    for change in unseen():
        outcome = handle(change, config)
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome != "baseline":
            logger.info("management.notify.%s entity=%s ref=%s status=%s", outcome, change.entity,
                        change.ref, change.status)
    return counts


def message_text(change: Change) -> str:
    """Return the free-form message for a change."""
    if change.entity == "order":
        words, emoji = ORDER_STATUS.get(change.status, (change.status.replace("_", " "), "•"))
        return f"{emoji} Update on your order *{change.ref}* ({change.detail}): it is now *{words}*."
    text = f"✅ Your defect report *{change.ref}* for order {change.detail} is resolved."
    return f"{text}\nResolution: {change.resolution}" if change.resolution else text


def template_for(change: Change, config: ManagementConfig) -> Template:
    """Return NOTIFY_TEMPLATE with body parameters {{1}} the reference and {{2}} the new status."""
    labels = ORDER_STATUS if change.entity == "order" else DEFECT_STATUS
    words = labels.get(change.status, (change.status.replace("_", " "), ""))[0]
    parameters = [{"type": "text", "text": change.ref}, {"type": "text", "text": words}]
    return Template(config.notify_template or "", config.notify_template_language,
                    ({"type": "body", "parameters": parameters},))


def _decide(change: Change, config: ManagementConfig, now: datetime) -> str:
    """Return baseline, not_notified, skipped_*, text or template."""
    if not change.known:
        return "baseline"
    announced = ANNOUNCED.get(change.entity)
    if announced is not None and change.status not in announced:
        return "not_notified"
    if not change.wa_id:
        return "skipped_no_recipient"
    state = outbound.contact_state(change.wa_id)
    if state.opted_out:
        return "skipped_opted_out"
    if state.window_open(now):
        return "text"
    return "template" if config.notify_template else "skipped_no_template"


class Notifier:
    """Scan every NOTIFY_SCAN_SECONDS, the first time right at start-up."""

    def __init__(self, config: ManagementConfig) -> None:
        self.config = config

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            try:
                await asyncio.to_thread(scan_once, self.config)
            except Exception as exc:  # noqa: BLE001 - a failed scan (db busy) is retried next time
                logger.warning("management.notify.scan_failed error=%s", type(exc).__name__)
                logger.debug("management.notify.scan_failed traceback", exc_info=exc)
            await asyncio.sleep(self.config.notify_scan_seconds)
