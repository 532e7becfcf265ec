"""A migrated, seeded SQLite file per test, reached through DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from database.clock import local_today
from database.seed import seed
from database.session import reset_engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    """Point the db layer at an empty file in tmp_path and migrate it to head."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'assistant.db'}")
    monkeypatch.setenv("ASSISTANT_TIMEZONE", "Asia/Kolkata")
    reset_engine()
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["configure_logger"] = False  # keep pytest's logging untouched
    command.upgrade(config, "head")
    yield config
    reset_engine()


@pytest.fixture
def today(database: Config) -> date:
    """Seed the demo data and return the local day it was seeded for."""
    day = local_today()
    seed(day)
    return day
