"""The management channel's own table, in the business database next to the channel's.

`notifications` remembers every (entity, ref, status) the scanner has seen: the first sighting of a
record is its baseline (nothing is sent), and a status not seen before for a known record is a
change, told to the customer once. The unique key makes "once" hold across scans, restarts and
instances. Datetimes are naive UTC. Migration: 0004_management. (Handoffs live in database/models.py
because the action server writes them.)
"""
from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, UniqueConstraint

from database.models import NAMING_CONVENTION

# baseline: first sighting; queued: message enqueued; not_notified: a change we do not announce;
# skipped_*: a change we could not announce (opted out, window closed without a template, no number).
OUTCOMES = ("baseline", "queued", "not_notified", "skipped_opted_out", "skipped_no_template",
            "skipped_no_recipient")

metadata = MetaData(naming_convention=NAMING_CONVENTION)

notifications = Table(
    "notifications", metadata,
    Column("id", Integer, primary_key=True),
    Column("entity", String(16), nullable=False),  # order, defect
    Column("ref", String(20), nullable=False),  # ORD-10002, DEF-0001
    Column("status", String(20), nullable=False),  # the status seen
    Column("wa_id", String(160), nullable=True),  # who was told
    Column("outcome", String(24), nullable=False),
    Column("outbox_key", String(255), nullable=True),  # whatsapp_outbox.inbound_wamid of the message
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("entity", "ref", "status", name="uq_notifications_entity"),
)
