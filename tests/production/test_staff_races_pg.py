"""Staff inbox races on the local PostgreSQL, where READ COMMITTED lets a SELECT miss an uncommitted change."""
from __future__ import annotations

import time
from datetime import timedelta
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import update

from database.clock import utcnow
from database.handoffs import request_handoff
from database.session import sessions
from connectors.management.handoff import handoffs
from connectors.management.outbound import Refused
from connectors.staff import accounts, replies
from connectors.staff.sessions import create_session
from tests.management.conftest import RAVI, add_contact, add_inbound, outbox_rows
from tests.production.conftest import database  # noqa: F401  (PostgreSQL, migrated)


def test_pg_a_reply_racing_a_hand_back_is_refused_not_sent_after_it(database):  # noqa: F811
    """A reply made while a hand-back is closing the handoff gets 409 not_taken_over once it commits; nothing is queued."""
    now = utcnow()
    add_contact(RAVI, now)
    add_inbound(RAVI, "I want a person", at=now)
    request_handoff(RAVI, now)
    _, meera = create_session(accounts.create("meera", "Meera", "correct horse battery"), ttl=timedelta(hours=1))
    with ThreadPoolExecutor(max_workers=1) as pool:
        with sessions().begin() as closing:  # the hand-back's UPDATE, not yet committed
            closing.execute(update(handoffs).where(handoffs.c.open_key == RAVI)
                            .values(open_key=None, state="released", released_at=now, released_by="staff"))
            racing = pool.submit(replies.reply, meera, RAVI, "Meera here.", "127.0.0.1")
            time.sleep(1.0)  # the reply has passed its checks and waits for the handoff's row
        with pytest.raises(Refused) as refused:
            racing.result(timeout=15)
    assert refused.value.code == "not_taken_over"
    assert outbox_rows(RAVI) == []
