"""Engine and session factory, built on first use and never at import."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Engines handed out by engine(), so reset_engine() can close their pools.
_built: list[Engine] = []


def database_url() -> str:
    """Return DATABASE_URL, or a SQLite file under <project root>/var."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    var = PROJECT_ROOT / "var"
    var.mkdir(exist_ok=True)
    return f"sqlite:///{var / 'assistant.db'}"


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would delay BEGIN until the first write; _begin_sqlite emits it
    # instead, so a transaction's reads and writes share one snapshot.
    dbapi_connection.isolation_level = None
    # WAL lets the action server read while another thread writes; SQLite
    # leaves foreign keys off unless asked on every connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


@lru_cache(maxsize=None)
def engine(url: str | None = None) -> Engine:
    """Return the shared engine for `url` (default: database_url())."""
    url = url or database_url()
    if make_url(url).get_backend_name() == "sqlite":
        built = create_engine(url, future=True, connect_args={"check_same_thread": False})
        event.listen(built, "connect", _tune_sqlite)
        event.listen(built, "begin", _begin_sqlite)
    else:
        built = create_engine(url, future=True, pool_pre_ping=True)
    _built.append(built)
    return built


@lru_cache(maxsize=None)
def sessions() -> sessionmaker:
    """Return the session factory bound to engine()."""
    return sessionmaker(engine(), future=True, expire_on_commit=False)


def lock_for_write(session: Session, key: Optional[str] = None) -> None:
    """Take the write lock before this transaction reads anything.

    Call first inside `with sessions().begin()`, so a value read and then written (the last DEF-
    number, a sender's next message) cannot change underneath the writer. SQLite: BEGIN IMMEDIATE,
    one writer for the whole file. PostgreSQL: a transaction-scoped advisory lock on `key`, so
    writers of the same key (one sender, one ref prefix) queue and others run in parallel.
    """
    connection = session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
    if key is not None and connection.dialect.name == "postgresql":
        connection.execute(_ADVISORY_LOCK, {"key": key})


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:key))")


def reset_engine() -> None:
    """Close cached engines so the next call re-reads DATABASE_URL (tests use this)."""
    sessions.cache_clear()
    engine.cache_clear()
    while _built:
        _built.pop().dispose()
