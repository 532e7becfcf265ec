"""The record of staff actions: who did what to which conversation, and when.

Written in the same transaction as the action where there is one (`record_in`), so an action is never
without its record. Never holds a message's text or a password. Sync, for asyncio.to_thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from database.clock import utcnow
from database.session import sessions
from connectors.staff.tables import audit

ACTIONS = ("sign_in", "sign_out", "reply", "template", "take_over", "hand_back", "account_created",
           "account_disabled", "account_enabled", "password_reset")


@dataclass(frozen=True)
class Entry:
    """One audit row."""

    actor: str
    action: str
    wa_id: Optional[str]
    detail: Optional[str]
    at: datetime


def record_in(session: Session, actor: str, action: str, account_id: Optional[int] = None,
              wa_id: Optional[str] = None, detail: Optional[str] = None, ip: Optional[str] = None,
              now: Optional[datetime] = None) -> None:
    """Add one audit row inside the caller's transaction."""
    assert action in ACTIONS, action
    session.execute(insert(audit).values(account_id=account_id, actor=actor, action=action, wa_id=wa_id,
                                         detail=None if detail is None else detail[:255],
                                         ip=None if ip is None else ip[:64], at=now or utcnow()))


def record(actor: str, action: str, account_id: Optional[int] = None, wa_id: Optional[str] = None,
           detail: Optional[str] = None, ip: Optional[str] = None, now: Optional[datetime] = None) -> None:
    """Add one audit row in its own transaction."""
    with sessions().begin() as session:
        record_in(session, actor, action, account_id, wa_id, detail, ip, now)


def entries(wa_id: Optional[str] = None, limit: int = 100) -> list[Entry]:
    """Return the newest audit rows (of one conversation), newest first."""
    a = audit.c
    stmt = select(a.actor, a.action, a.wa_id, a.detail, a.at).order_by(a.at.desc(), a.id.desc()).limit(limit)
    if wa_id is not None:
        stmt = stmt.where(a.wa_id == wa_id)
    with sessions()() as session:
        return [Entry(r.actor, r.action, r.wa_id, r.detail, r.at) for r in session.execute(stmt)]
