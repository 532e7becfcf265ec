"""The business queries and the channel's durable store, unchanged, on the local PostgreSQL.

The SQLite suites in tests/actions/test_db.py and tests/connectors/test_whatsapp_store.py are
collected here again; this package's `database` and `today` fixtures point them at a fresh
PostgreSQL schema instead of a SQLite file.
"""
from __future__ import annotations

from tests.actions.test_db import *  # noqa: F401,F403
from tests.connectors.test_whatsapp_store import *  # noqa: F401,F403
from tests.production.conftest import database, today  # noqa: F401  (override the SQLite fixtures)

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from database.session import sessions
from connectors.whatsapp import outbox, store
from connectors.whatsapp.outbox import OutboxItem
from connectors.whatsapp.tables import inbound, statuses, webhooks
from connectors.whatsapp.tables import outbox as outbox_table
from connectors.whatsapp.updates import parse_delivery
from tests.connectors.whatsapp_support import delivery, status, text
from tests.fakes.graph_state import DEFAULT_PHONE_NUMBER_ID as OURS

TTL = timedelta(seconds=30)


def test_migrations_match_models(database):  # noqa: F811
    """The migrated schema is exactly what the models and the channel's tables declare."""
    from tests.actions.test_db import test_migrations_match_models as on_sqlite
    on_sqlite(database)


def test_pg_the_unwritten_leases_table_is_dropped_and_a_downgrade_restores_it(database):  # noqa: F811
    """On PostgreSQL, 0010 drops whatsapp_leases and its downgrade recreates it."""
    from tests.connectors.test_whatsapp_migration import check_leases_dropped_and_restored
    check_leases_dropped_and_restored(database)


def _save(body: dict) -> store.SavedDelivery:
    """Store one delivery as the webhook would."""
    return store.save_delivery(json.dumps(body).encode(), parse_delivery(body), OURS)


def _count(table, *where) -> int:
    """Return how many rows of table match."""
    with sessions()() as session:
        return session.scalar(select(func.count()).select_from(table).where(*where))


def test_pg_duplicate_wamid_from_many_connections_is_stored_once(database):
    """Forty copies of one delivery raced over forty PostgreSQL connections store one message."""
    body = delivery(text("919800000001", "hi"), text("919800000002", "hello"))
    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(lambda _: _save(body), range(40)))
    assert sum(r.new_messages for r in results) == 2
    assert sum(r.duplicates for r in results) == 78
    assert _count(inbound) == 2 and _count(webhooks) == 40


def test_pg_two_workers_claim_every_message_once_in_sender_order(database):
    """Two workers racing over 10 senders x 6 messages claim each once, one per sender at a time, in order."""
    senders = [f"9198000001{n:02d}" for n in range(10)]
    for position in range(6):
        _save(delivery(*(text(wa_id, f"m{position}", age_seconds=600 - 10 * position) for wa_id in senders)))
    claimed: dict[str, list[tuple[str, int]]] = {}
    busy: dict[str, str] = {}
    guard, overlaps = threading.Lock(), []

    def work(owner: str) -> None:
        idle = 0
        while idle < 3:
            got = False
            for wa_id in store.senders_with_work():
                view = store.claim_next_inbound(wa_id, owner, TTL)
                if view is None:
                    continue
                got = True
                with guard:
                    if busy.get(wa_id):
                        overlaps.append((wa_id, busy[wa_id], owner))
                    busy[wa_id] = owner
                    claimed.setdefault(wa_id, []).append((view.text, view.timestamp))
                with guard:
                    busy[wa_id] = ""
                assert store.finish_turn(view, owner, "done").held
            idle = 0 if got else idle + 1

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(work, ["worker-a", "worker-b"]))
    assert overlaps == []
    assert {wa_id: [t for t, _ in msgs] for wa_id, msgs in claimed.items()} == {
        wa_id: [f"m{n}" for n in range(6)] for wa_id in senders}
    assert _count(inbound, inbound.c.state == "done") == 60


def test_pg_outbox_rows_are_claimed_by_one_sender_only(database):
    """Two senders racing for one recipient's queue never hold the same row or skip ahead."""
    _save(delivery(text("919800000001", "hi")))
    wamid = "wamid.in.1"
    outbox.enqueue([OutboxItem("919800000001", wamid, seq, "reply", {"to": "+919800000001", "type": "text",
                                                                      "text": {"body": str(seq)}})
                    for seq in range(20)])
    got: list[tuple[str, int]] = []

    def send(owner: str) -> None:
        for _ in range(200):
            rows = outbox.claim_due_outbox("919800000001", owner, TTL, limit=3)
            if not rows:
                if _count(outbox_table, outbox_table.c.state != "sent") == 0:
                    return
                continue
            got.extend((owner, row.seq) for row in rows)
            outbox.mark_sent_many([(row.id, f"wamid.out.{row.seq}") for row in rows], owner)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(send, ["sender-a", "sender-b"]))
    assert sorted(seq for _, seq in got) == list(range(20))
    assert [seq for _, seq in got] == list(range(20))


def test_pg_statuses_only_move_forward_whatever_the_arrival_order(database):
    """read, sent, delivered, sent again, raced: the row ends at read and each status is logged once."""
    _save(delivery(text("919800000001", "hi")))
    outbox.enqueue([OutboxItem("919800000001", "wamid.in.1", 0, "reply", {"to": "+919800000001"})])
    [row] = outbox.claim_due_outbox("919800000001", "sender", TTL)
    outbox.mark_sent_many([(row.id, "wamid.out.1")], "sender")
    order = ["read", "sent", "delivered", "sent", "read", "delivered"] * 5
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda s: _save(delivery(statuses=(status("wamid.out.1", s, "919800000001"),))), order))
    with sessions()() as session:
        final = session.execute(select(outbox_table.c.delivery_status, outbox_table.c.status_rank)).one()
    assert final.delivery_status == "read"
    assert _count(statuses) == 3
