"""Handoff requests: the action server records them, the operator API answers and releases them."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from database.clock import utcnow
from database.models import Handoff
from database.session import sessions


def request_handoff(wa_id: str, now: Optional[datetime] = None) -> bool:
    """Open a handoff for wa_id; return False if one was already waiting (it counts as activity)."""
    now = now or utcnow()
    table = Handoff.__table__
    with sessions().begin() as session:
        try:
            with session.begin_nested():
                session.execute(insert(table).values(
                    wa_id=wa_id, open_key=wa_id, state="waiting", requested_at=now,
                    last_activity_at=now, staff_replies=0))
            return True
        except IntegrityError:  # one is open already: the unique open_key said so
            session.execute(update(table).where(table.c.open_key == wa_id).values(last_activity_at=now))
            return False
