"""The channel's tables, in the business database (DATABASE_URL), all prefixed `whatsapp_`.

Datetimes are naive UTC. Idempotency comes from constraints: one inbound row per wamid, one outbox
row per (inbound wamid, seq), one status row per (wamid, status). Migrations: 0002_whatsapp_channel,
0005_marketing_preference_order, 0010_drop_whatsapp_leases.
"""
from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Column, DateTime, Index, Integer,
                        LargeBinary, MetaData, String, Table, Text, UniqueConstraint)

from database.models import NAMING_CONVENTION

INBOUND_STATES = ("pending", "processing", "done", "expired", "ignored")
OUTBOX_STATES = ("queued", "sending", "sent", "failed")

metadata = MetaData(naming_convention=NAMING_CONVENTION)

webhooks = Table(
    "whatsapp_webhooks", metadata,
    Column("id", Integer, primary_key=True),
    Column("received_at", DateTime, nullable=False),
    Column("body", LargeBinary, nullable=False),  # the raw bytes Meta signed, for replay
    Column("signature_ok", Boolean, nullable=False),
    Column("messages", Integer, nullable=False, default=0),
    Column("statuses", Integer, nullable=False, default=0),
)

inbound = Table(
    "whatsapp_inbound", metadata,
    Column("id", Integer, primary_key=True),  # arrival order
    Column("wamid", String(255), nullable=False),
    Column("wa_id", String(160), nullable=False),
    Column("phone_number_id", String(40), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("meta", JSON, nullable=False),  # InboundMessage.metadata()
    Column("timestamp", BigInteger, nullable=False),  # Meta's, Unix seconds
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(80), nullable=True),
    Column("lease_until", DateTime, nullable=True),
    Column("last_error", String(120), nullable=True),
    Column("received_at", DateTime, nullable=False),
    Column("done_at", DateTime, nullable=True),
    CheckConstraint("state IN ('pending', 'processing', 'done', 'expired', 'ignored')", name="state"),
    UniqueConstraint("wamid", name="uq_whatsapp_inbound_wamid"),
    Index("ix_whatsapp_inbound_state_wa_id", "state", "wa_id"),
    Index("ix_whatsapp_inbound_wa_id_timestamp", "wa_id", "timestamp", "id"),
)

outbox = Table(
    "whatsapp_outbox", metadata,
    Column("id", Integer, primary_key=True),  # send order per recipient
    Column("wa_id", String(160), nullable=False),
    Column("inbound_wamid", String(255), nullable=False),  # the message this answers
    Column("seq", Integer, nullable=False),  # position in that turn's replies
    Column("kind", String(16), nullable=False),  # reply, notice, opt_out, opt_in, template
    Column("payload", JSON, nullable=False),  # the Graph /messages body
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("lease_owner", String(80), nullable=True),
    Column("lease_until", DateTime, nullable=True),
    Column("graph_wamid", String(255), nullable=True),
    Column("last_error_code", Integer, nullable=True),  # Meta's code
    Column("last_error", String(120), nullable=True),  # our reason: opted_out, window_closed, ...
    Column("delivery_status", String(16), nullable=True),  # sent, delivered, read, played, failed
    Column("status_rank", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime, nullable=True),
    CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed')", name="state"),
    UniqueConstraint("inbound_wamid", "seq", name="uq_whatsapp_outbox_inbound_wamid"),
    Index("ix_whatsapp_outbox_state_wa_id", "state", "wa_id"),
    Index("ix_whatsapp_outbox_wa_id_id", "wa_id", "id"),
    Index("ix_whatsapp_outbox_graph_wamid", "graph_wamid"),
)

statuses = Table(
    "whatsapp_statuses", metadata,
    Column("id", Integer, primary_key=True),
    Column("wamid", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("recipient_id", String(160), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("error_codes", JSON, nullable=False),
    Column("received_at", DateTime, nullable=False),
    UniqueConstraint("wamid", "status", name="uq_whatsapp_statuses_wamid"),
)

contacts = Table(
    "whatsapp_contacts", metadata,
    Column("wa_id", String(160), primary_key=True),
    Column("user_id", String(160), nullable=True),  # BSUID, when Meta sends one
    Column("profile_name", String(255), nullable=True),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
    Column("last_inbound_at", DateTime, nullable=True),  # opens the 24 h service window
    Column("opted_out", Boolean, nullable=False, default=False),
    Column("opted_out_at", DateTime, nullable=True),
    Column("marketing_stopped", Boolean, nullable=False, default=False),
    Column("marketing_preference_at", BigInteger, nullable=True),  # Meta's timestamp of the one applied
)

# One row per downloaded inbound file: the sender's daily quota sums `bytes`; retention deletes the
# file and the row together. Migration: 0005_whatsapp_media.
media = Table(
    "whatsapp_media", metadata,
    Column("id", Integer, primary_key=True),
    Column("wamid", String(255), nullable=False),  # the message that carried it
    Column("wa_id", String(160), nullable=False),
    Column("media_id", String(255), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("downloaded_at", DateTime, nullable=False),
    UniqueConstraint("wamid", name="uq_whatsapp_media_wamid"),
    Index("ix_whatsapp_media_wa_id_downloaded_at", "wa_id", "downloaded_at"),
    Index("ix_whatsapp_media_downloaded_at", "downloaded_at"),
)
