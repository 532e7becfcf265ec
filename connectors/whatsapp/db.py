"""Sessions for the channel's tables, with the durability each write needs.

The business engine (database/session.py) commits with SQLite's default `synchronous=FULL`: one
fsync (about 1.6 ms here) per transaction. The channel writes a dozen small rows per message
(claims, leases, outbox rows, wamids, statuses); only the raw delivery has to be on disk before
Meta gets its 200. So on SQLite the channel keeps two pooled engines on the same file:

- `durable` (`synchronous=FULL`) for the webhook's save: on disk when the commit returns;
- `fast` (`synchronous=NORMAL`, WAL) for the bookkeeping: it survives a crash of the process, and
  a power cut can only lose the last few of these commits, which the channel redoes (a lost claim
  lapses, a lost wamid comes back with the status webhook, a lost turn is rebuilt from the tracker).
  The next durable commit also makes every earlier one durable, as the WAL is written in order.

Writes go through `writing()`: on SQLite one channel transaction at a time in this process, the
webhook's save first. SQLite has one writer anyway; queueing in Python instead of in SQLite's busy
handler (which sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries) lets the webhook answer in a
few milliseconds however busy the workers are. Other processes are still kept out by SQLite.

Other databases (PostgreSQL) use the business engine for both and lock rows as usual. Sync code,
for asyncio.to_thread.
"""
from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator, Mapping, Optional, Sequence

from sqlalchemy import Table, bindparam, create_engine, event, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from database.session import database_url, lock_for_write, sessions

POOL_SIZE = 8  # threads that write at once: the webhook, the workers and the heartbeat
POOL_OVERFLOW = 32


def channel_sessions(durable: bool = False) -> sessionmaker:
    """Return the session factory for the channel's tables (durable: the commit is on disk)."""
    url = database_url()
    if make_url(url).get_backend_name() != "sqlite":
        return sessions()
    return _sqlite_sessions(url, "FULL" if durable else "NORMAL")


@contextmanager
def writing(durable: bool = False, key: Optional[str] = None) -> Iterator[Session]:
    """Open a write transaction (BEGIN IMMEDIATE on SQLite); commit on exit, roll back on error.

    durable: the webhook's save. It waits for no other channel write of this process, and its
    commit is on disk when the block ends.
    key: on PostgreSQL, transactions with the same key (one sender's queue) run one at a time,
    across every instance sharing the database (an advisory lock held until commit).
    """
    factory = channel_sessions(durable)
    if factory.kw["bind"].dialect.name != "sqlite":
        with factory.begin() as session:
            lock_for_write(session, key)
            yield session
        return
    with _gate.held(urgent=durable):
        with factory.begin() as session:
            lock_for_write(session)
            yield session


def lock_also(session: Session, key: str) -> None:
    """On PostgreSQL, also take the advisory lock on key in the open write transaction (no-op on SQLite,
    whose write transaction already excludes every other writer). Take `in:` keys before `out:` keys."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_ADVISORY_LOCK, {"key": key})


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:key))")


class _WriteGate:
    """One channel write transaction at a time in this process; urgent ones go first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0
        self._local = threading.local()

    @contextmanager
    def held(self, urgent: bool) -> Iterator[None]:
        """Hold the gate for the block (re-entrant within one thread)."""
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._condition:
            self._urgent_waiting += urgent
            try:
                while self._busy or (not urgent and self._urgent_waiting):
                    self._condition.wait()
            finally:
                self._urgent_waiting -= urgent
            self._busy = True
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._condition:
                self._busy = False
                self._condition.notify_all()


_gate = _WriteGate()


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
        result = session.execute(_insert_ignoring(dialect, table, tuple(keys)), dict(row))
        return result.rowcount == 1
    try:
        with session.begin_nested():
            session.execute(insert(table).values(**row))
        return True
    except IntegrityError:
        return False


def insert_new(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], key: str) -> set[Any]:
    """Insert the rows whose unique key is not in table yet; return the keys inserted. rows have distinct keys.

    A batch costs one or two statements, not one per row: every statement gives up the GIL and
    waits to take it back from a busy turn (on PostgreSQL for a round trip each), and a batch of 64
    deliveries saved row by row gave it up 192 times. PostgreSQL names the new rows with RETURNING.
    SQLite (no RETURNING in SQLAlchemy 1.4) looks the keys up first: its write transaction holds
    the database's lock from BEGIN, so nothing is inserted between the look-up and the insert, which
    runs as one executemany of a statement compiled once (a multi-row VALUES is compiled per call).
    """
    if len(rows) <= 1:  # its rowcount says it all: no look-up
        return {row[key] for row in rows if insert_ignore(session, table, row, [key])}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        lock_keys(session, [row[key] for row in rows])
        columns = tuple(rows[0])
        return set(session.scalars(_insert_returning(table, columns, len(rows), key), params_of(rows, columns)))
    if dialect != "sqlite":
        return {row[key] for row in rows if insert_ignore(session, table, row, [key])}
    known = set(session.scalars(_known_keys(table, key), {"keys": [row[key] for row in rows]}))
    fresh = [row for row in rows if row[key] not in known]
    insert_ignore_many(session, table, fresh, [key])
    return {row[key] for row in fresh}


def lock_keys(session: Session, keys: Sequence[str]) -> None:
    """On PostgreSQL, take a transaction-scoped advisory lock on each key, in one order for everyone.

    Two batches inserting the same keys in different orders would each wait for the other's
    uncommitted row (a deadlock PostgreSQL breaks after a second by failing one); rows keep their
    batch's order (ids break timestamp ties when a sender's messages are claimed), so the keys are
    locked first, in the order of their hashes.
    """
    hashed = sorted({int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big", signed=True)
                     for k in keys})
    session.execute(_LOCK_KEYS, {"keys": hashed})


_LOCK_KEYS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


def insert_ignore_many(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
    """Insert each row unless a row with the same unique keys exists, as one executemany."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        session.execute(_insert_ignoring(dialect, table, tuple(keys)), [dict(row) for row in rows])
        return
    for row in rows:
        insert_ignore(session, table, row, keys)


def values_of(table: Table, columns: Sequence[str], count: int) -> list[dict[str, Any]]:
    """Return count rows of bound parameters named column_n, for a multi-row statement
    (typed: SQLAlchemy gives the column's type only to the first row's)."""
    return [{column: bindparam(f"{column}_{n}", type_=table.c[column].type) for column in columns}
            for n in range(count)]


def params_of(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, Any]:
    """Return the values of rows for a statement built with values_of (column_n for row n)."""
    return {f"{column}_{n}": row[column] for n, row in enumerate(rows) for column in columns}


@lru_cache(maxsize=256)
def _insert_returning(table: Table, columns: tuple[str, ...], count: int, key: str) -> Any:
    """Return PostgreSQL's insert of count rows that skips known keys and returns the new ones."""
    return (postgresql.insert(table).values(values_of(table, columns, count))
            .on_conflict_do_nothing(index_elements=[key]).returning(table.c[key]))


@lru_cache(maxsize=None)
def _known_keys(table: Table, key: str) -> Any:
    """Return SELECT key FROM table WHERE key IN (:keys), built once."""
    return select(table.c[key]).where(table.c[key].in_(bindparam("keys", expanding=True)))


_built: list[sessionmaker] = []


@lru_cache(maxsize=None)
def _insert_ignoring(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    """Return INSERT ... ON CONFLICT (keys) DO NOTHING for table, built once (values bound per call).

    SQLAlchemy 1.4 cannot cache SQLite's ON CONFLICT construct and compiles it on every call, so
    the channel's own tables, whose only unique keys besides the row id are `keys`, use the
    equivalent (and cached) INSERT OR IGNORE; every value of theirs is set, so no NOT NULL or
    CHECK failure can be ignored by mistake.
    """
    if dialect == "sqlite" and table.name in _ONE_UNIQUE_KEY:
        return insert(table).prefix_with("OR IGNORE")
    build = sqlite.insert if dialect == "sqlite" else postgresql.insert
    return build(table).on_conflict_do_nothing(index_elements=list(keys))


_ONE_UNIQUE_KEY = frozenset({"whatsapp_inbound", "whatsapp_contacts", "whatsapp_statuses", "whatsapp_outbox"})


@lru_cache(maxsize=None)
def _sqlite_sessions(url: str, synchronous: str) -> sessionmaker:
    """Build a pooled engine on the SQLite file at url whose commits use this synchronous level."""
    engine = create_engine(url, future=True, poolclass=QueuePool, pool_size=POOL_SIZE,
                           max_overflow=POOL_OVERFLOW, connect_args={"check_same_thread": False})

    def tune(dbapi_connection: Any, _record: Any) -> None:
        # As database/session.py: BEGIN is ours (see _begin), WAL, foreign keys, wait for locks.
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
