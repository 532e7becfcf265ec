"""Migration 0007 on a database in use: every contact and order lands in its company, nothing is lost."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from database.orders import recent_orders
from database.session import reset_engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def alembic_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """Alembic pointed at an empty SQLite file."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'old.db'}")
    reset_engine()
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logger"] = False
    yield config
    reset_engine()


def test_an_existing_database_keeps_its_customers_orders_and_runs(alembic_config, tmp_path):
    """Two contacts of one company share it after the upgrade and both still see its order."""
    command.upgrade(alembic_config, "0006")
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}", future=True)
    with engine.begin() as db:
        db.execute(text("INSERT INTO customers (id, wa_id, name, company, role, created_at) VALUES "
                        "(1, '919800000001', 'Asha Mehta', 'Asha Traders', 'customer', '2026-01-01 00:00:00'), "
                        "(2, '919800000003', 'Vikram Mehta', 'Asha Traders', 'customer', '2026-01-01 00:00:00'), "
                        "(3, '919800000002', 'Ravi Kumar', 'Bharat Textiles', 'customer', '2026-01-01 00:00:00')"))
        db.execute(text("INSERT INTO orders (id, ref, customer_id, product, quantity, status, placed_on, promised_on, "
                        "updated_at) VALUES (1, 'ORD-10001', 1, 'Yarn', 5, 'received', '2026-01-02', '2026-01-09', "
                        "'2026-01-02 10:00:00')"))
        db.execute(text("INSERT INTO production_runs (id, line, product, order_id, planned_qty, done_qty, starts_at, "
                        "ends_at, status) VALUES (7, 'Line A', 'Yarn', 1, 5, 0, '2026-01-03 06:00:00', '2026-01-03 14:00:00', 'planned')"))
    command.upgrade(alembic_config, "head")
    with engine.connect() as db:
        assert db.execute(text("SELECT ref, name FROM companies ORDER BY ref")).all() == [
            ("ASHA-TRADERS", "Asha Traders"), ("BHARAT-TEXTILES", "Bharat Textiles")]
        assert db.execute(text("SELECT ref FROM production_runs")).all() == [("RUN-7",)]
    engine.dispose()
    assert [o.ref for o in recent_orders("919800000003")] == ["ORD-10001"]
    assert recent_orders("919800000002") == []
