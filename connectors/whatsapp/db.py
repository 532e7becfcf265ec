"""Sessions for the channel's tables, with the durability each write needs.

The business engine (actions/db/session.py) commits with SQLite's default `synchronous=FULL`: one
fsync (about 1.6 ms here) per transaction. The channel writes a dozen small rows per message
(claims, leases, outbox rows, wamids, statuses); only the raw delivery has to be on disk before
Meta gets its 200. So on SQLite the channel keeps two pooled engines on the same file:

- `durable` (`synchronous=FULL`) for the webhook's save: on disk when the commit returns;
- `fast` (`synchronous=NORMAL`, WAL) for the bookkeeping: it survives a crash of the process, and
  a power cut can only lose the last few of these commits, which the channel redoes (a lost claim
  lapses, a lost wamid comes back with the status webhook, a lost turn is rebuilt from the tracker).
  The next durable commit also makes every earlier one durable, as the WAL is written in order.

Other databases (PostgreSQL) use the business engine for both. Sync code, for asyncio.to_thread.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, Sequence

from sqlalchemy import Table, create_engine, event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from actions.db.session import database_url, sessions

POOL_SIZE = 8  # threads that write at once: the webhook, the workers and the heartbeat
POOL_OVERFLOW = 32


def channel_sessions(durable: bool = False) -> sessionmaker:
    """Return the session factory for the channel's tables (durable: the commit is on disk)."""
    url = database_url()
    if make_url(url).get_backend_name() != "sqlite":
        return sessions()
    return _sqlite_sessions(url, "FULL" if durable else "NORMAL")


def reset_channel_engines() -> None:
    """Close the channel's SQLite pools (tests point DATABASE_URL somewhere else)."""
    for factory in _built:
        factory.kw["bind"].dispose()
    _built.clear()
    _sqlite_sessions.cache_clear()


def insert_ignore(session: Session, table: Table, row: Mapping[str, Any], keys: Sequence[str]) -> bool:
    """Insert row unless a row with the same unique keys exists; return True if it was inserted."""
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        build = sqlite.insert if dialect == "sqlite" else postgresql.insert
        result = session.execute(build(table).values(**row).on_conflict_do_nothing(index_elements=list(keys)))
        return result.rowcount == 1
    try:
        with session.begin_nested():
            session.execute(insert(table).values(**row))
        return True
    except IntegrityError:
        return False


_built: list[sessionmaker] = []


@lru_cache(maxsize=None)
def _sqlite_sessions(url: str, synchronous: str) -> sessionmaker:
    """Build a pooled engine on the SQLite file at url whose commits use this synchronous level."""
    engine = create_engine(url, future=True, poolclass=QueuePool, pool_size=POOL_SIZE,
                           max_overflow=POOL_OVERFLOW, connect_args={"check_same_thread": False})

    def tune(dbapi_connection: Any, _record: Any) -> None:
        # As actions/db/session.py: BEGIN is ours (see _begin), WAL, foreign keys, wait for locks.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=5000", f"synchronous={synchronous}"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    event.listen(engine, "connect", tune)
    event.listen(engine, "begin", _begin)
    factory = sessionmaker(engine, future=True, expire_on_commit=False)
    _built.append(factory)
    return factory


def _begin(connection: Connection) -> None:
    """Emit BEGIN, IMMEDIATE when lock_for_write asked for it (same option as the business engine)."""
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")
