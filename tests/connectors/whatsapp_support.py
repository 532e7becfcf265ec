"""Shared helpers for WhatsApp channel tests: fresh signed deliveries and a migrated database."""
from __future__ import annotations

import copy
import itertools
import json
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from alembic import command
from alembic.config import Config

from database.session import reset_engine
from connectors.whatsapp.db import reset_channel_engines
from connectors.whatsapp.security import signature_for
from tests.fakes.graph_state import DEFAULT_PHONE_NUMBER_ID

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "webhooks"
WABA_ID = "102030405060"
_counter = itertools.count(1)

Pair = tuple[dict[str, Any], dict[str, Any]]  # (contact, message) as Meta lists them


def variant(kind: str, name: str) -> dict[str, Any]:
    """Return a deep copy of one stored delivery (tests/fixtures/webhooks/<kind>.json)."""
    return copy.deepcopy(json.loads((FIXTURES / f"{kind}.json").read_text())[name])


def new_wamid() -> str:
    """Return a wamid no test has used."""
    return f"wamid.test{next(_counter)}{uuid.uuid4().hex}"


def message(kind: str, name: str, wa_id: str, age_seconds: int = 0, **fields: Any) -> Pair:
    """Take a stored variant's first message, from wa_id, with a new wamid, sent age_seconds ago."""
    value = variant(kind, name)["entry"][0]["changes"][0]["value"]
    contact = copy.deepcopy((value.get("contacts") or [{"profile": {"name": "Test User"}}])[0])
    contact["wa_id"] = wa_id
    msg = value["messages"][0]
    msg.update({"from": wa_id, "id": new_wamid(), "timestamp": str(int(time.time()) - age_seconds)})
    msg.update(fields)
    return contact, msg


def text(wa_id: str, body: str, **kwargs: Any) -> Pair:
    """Return a text message from wa_id."""
    return message("text", "text", wa_id, text={"body": body}, **kwargs)


def list_reply(wa_id: str, row_id: str, title: str) -> Pair:
    """Return a tap on a list row."""
    return message("interactive", "list_reply", wa_id,
                   interactive={"type": "list_reply", "list_reply": {"id": row_id, "title": title}})


def button_reply(wa_id: str, button_id: str, title: str) -> Pair:
    """Return a tap on a reply button."""
    return message("interactive", "button_reply", wa_id,
                   interactive={"type": "button_reply", "button_reply": {"id": button_id, "title": title}})


def delivery(*pairs: Pair, statuses: tuple[dict[str, Any], ...] = (),
             phone_number_id: str = DEFAULT_PHONE_NUMBER_ID) -> dict[str, Any]:
    """Wrap messages (and statuses) in one webhook envelope for our number."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001234", "phone_number_id": phone_number_id},
    }
    if pairs:
        value["contacts"] = [contact for contact, _ in pairs]
        value["messages"] = [msg for _, msg in pairs]
    if statuses:
        value["statuses"] = list(statuses)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}]}


def status(wamid: str, state: str, wa_id: str, callback: str | None = None, **extra: Any) -> dict[str, Any]:
    """Return one status item as Meta sends it."""
    item = {"id": wamid, "status": state, "timestamp": str(int(time.time())), "recipient_id": wa_id, **extra}
    if callback:
        item["biz_opaque_callback_data"] = callback
    return item


def signed(body: dict[str, Any] | bytes, secret: str) -> tuple[bytes, dict[str, str]]:
    """Return the exact bytes to POST and headers carrying Meta's signature over them."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", "X-Hub-Signature-256": signature_for(secret, raw)}


def migrate(db_url: str) -> None:
    """Create every table (business and channel) in the database at db_url."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logger"] = False  # keep pytest's logging untouched
    command.upgrade(config, "head")


@contextmanager
def sqlite_database(path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point DATABASE_URL at a fresh migrated SQLite file at path; drop the engines afterwards."""
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    reset_engine()
    reset_channel_engines()
    migrate(url)
    yield url
    reset_engine()
    reset_channel_engines()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point DATABASE_URL at a fresh migrated SQLite file for one test."""
    with sqlite_database(tmp_path / "channel.db", monkeypatch) as url:
        yield url
