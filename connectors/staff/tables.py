"""The staff inbox's tables, in the business database, all prefixed `staff_`.

Accounts sign in with a password (an argon2 hash, never the password); a session is a row keyed by
the SHA-256 of its cookie value, so the table alone cannot sign anyone in. Login attempts are rows,
so the rate limit holds across instances. `staff_messages` names the account behind each staff
outbox row (keyed by the row's outbox key, written before the row itself). Datetimes are naive UTC.
Migration: 0008_staff_inbox.
"""
from __future__ import annotations

from sqlalchemy import (Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table,
                        UniqueConstraint)

from database.models import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

accounts = Table(
    "staff_accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False),  # lowercase, see accounts.USERNAME
    Column("name", String(120), nullable=False),  # shown next to their messages
    Column("password_hash", String(255), nullable=False),  # argon2id, PHC string
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
    Column("password_changed_at", DateTime, nullable=False),
    Column("disabled_at", DateTime, nullable=True),
    UniqueConstraint("username", name="uq_staff_accounts_username"),
)

sessions = Table(
    "staff_sessions", metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False),  # sha256 hex of the cookie value
    Column("account_id", Integer, ForeignKey("staff_accounts.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),  # synchronizer token for this session's writes
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    UniqueConstraint("token_hash", name="uq_staff_sessions_token_hash"),
    Index("ix_staff_sessions_account_id", "account_id"),
    Index("ix_staff_sessions_expires_at", "expires_at"),
)

login_attempts = Table(
    "staff_login_attempts", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False),  # as typed (lowercased), known or not
    Column("ip", String(64), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("at", DateTime, nullable=False),
    Index("ix_staff_login_attempts_username", "username", "at"),
    Index("ix_staff_login_attempts_ip", "ip", "at"),
    Index("ix_staff_login_attempts_at", "at"),  # the 30-day prune (migration 0011)
)

audit = Table(
    "staff_audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("staff_accounts.id"), nullable=True),
    Column("actor", String(64), nullable=False),  # the username, or "cli" for account commands
    Column("action", String(32), nullable=False),  # sign_in, sign_out, reply, template, take_over, hand_back, ...
    Column("wa_id", String(160), nullable=True),  # the conversation acted on
    Column("detail", String(255), nullable=True),  # e.g. the outbox key of a reply; never message text
    Column("ip", String(64), nullable=True),
    Column("at", DateTime, nullable=False),
    Index("ix_staff_audit_wa_id", "wa_id", "at"),
    Index("ix_staff_audit_at", "at"),
)

messages = Table(
    "staff_messages", metadata,
    Column("outbox_key", String(255), primary_key=True),  # whatsapp_outbox.inbound_wamid (staff:<uuid>)
    Column("account_id", Integer, ForeignKey("staff_accounts.id"), nullable=False),
    Column("created_at", DateTime, nullable=False),
)
