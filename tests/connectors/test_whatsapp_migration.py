"""Migration 0010 drops the unwritten whatsapp_leases table; its downgrade brings the table back."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from tests.connectors.whatsapp_support import database  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    """Return Alembic's configuration for DATABASE_URL."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logger"] = False
    return config


def leases_columns(url: str) -> list[tuple[str, bool]] | None:
    """Return whatsapp_leases' columns as (name, nullable), or None if there is no such table."""
    engine = create_engine(url, future=True)
    try:
        found = inspect(engine)
        if "whatsapp_leases" not in found.get_table_names():
            return None
        assert found.get_pk_constraint("whatsapp_leases")["constrained_columns"] == ["key"]
        return sorted((column["name"], column["nullable"]) for column in found.get_columns("whatsapp_leases"))
    finally:
        engine.dispose()


def check_leases_dropped_and_restored(url: str) -> None:
    """At head the table is gone; down to 0009 it is back as 0002 made it; up again it goes, rows and all."""
    config = alembic_config()
    assert leases_columns(url) is None
    command.downgrade(config, "0009")
    assert leases_columns(url) == [("key", False), ("owner", False), ("until", False)]
    engine = create_engine(url, future=True)
    with engine.begin() as db:  # a row an old version left behind does not stop the upgrade
        db.execute(text("INSERT INTO whatsapp_leases (key, owner, until) "
                        "VALUES ('in:919800000001', 'old-host:1', '2026-01-01 00:00:00')"))
    engine.dispose()
    command.upgrade(config, "head")
    assert leases_columns(url) is None


def test_the_unwritten_leases_table_is_dropped_and_a_downgrade_restores_it(database):  # noqa: F811
    """On SQLite, 0010 drops whatsapp_leases and its downgrade recreates it."""
    check_leases_dropped_and_restored(database)


def test_a_freshly_migrated_sqlite_file_is_already_in_wal_mode(database):  # noqa: F811
    """The app never has to switch a new file to WAL while its own connections hold locks (a switch that
    waits for them, up to the busy timeout, and then fails the webhook's save with "database is locked")."""
    connection = sqlite3.connect(database.removeprefix("sqlite:///"))
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()
