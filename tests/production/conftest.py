"""The production services (PostgreSQL, Redis, nginx on 127.0.0.1) and a fresh PostgreSQL schema per test.

`scripts/services.sh start` installs and starts them when a test first needs them; they are stopped at
the end of the session unless they were already running before it.
"""
from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from database.clock import local_today
from database.seed import seed
from database.session import reset_engine
from tests.connectors.whatsapp_support import migrate

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services.sh"
_schemas = itertools.count()


def _services(command: str) -> subprocess.CompletedProcess:
    """Run scripts/services.sh command; return the finished process."""
    return subprocess.run(["bash", str(SERVICES), command], cwd=ROOT, capture_output=True, text=True, timeout=300)


def _env(output: str) -> dict[str, str]:
    """Parse the KEY=value lines services.sh prints."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line and not line.startswith("services:"))


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, str]]:
    """Start PostgreSQL, Redis and nginx (installing them if needed); return their URLs."""
    was_up = _services("status").stdout.count(": up") == 3
    started = _services("start")
    if started.returncode != 0:
        pytest.fail(f"scripts/services.sh start failed:\n{started.stdout}\n{started.stderr}")
    try:
        yield _env(started.stdout)
    finally:
        if not was_up:
            _services("stop")


@pytest.fixture
def pg_url(services: dict[str, str]) -> Iterator[str]:
    """Return DATABASE_URL for a fresh, empty schema of the business database; drop it afterwards."""
    schema = f"test_{os.getpid()}_{next(_schemas)}"
    admin = create_engine(services["DATABASE_URL"], future=True)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{services['DATABASE_URL']}?options={quote(f'-csearch_path={schema}')}"
    reset_engine()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def database(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point DATABASE_URL at a fresh schema on the local PostgreSQL, migrated to head."""
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("ASSISTANT_TIMEZONE", "Asia/Kolkata")
    reset_engine()
    migrate(pg_url)
    yield pg_url
    reset_engine()


@pytest.fixture
def today(database: str) -> date:
    """Seed the demo data and return the local day it was seeded for."""
    day = local_today()
    seed(day)
    return day
