"""The management API on a real Sanic server over a migrated, seeded SQLite file.

Rasa's agent is played by a small stand-in (readiness and the action endpoint, the two things the
API asks it); the action server's /health is a real aiohttp server that can be told to fail.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Optional

import aiohttp
import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa.utils.endpoints import EndpointConfig
from sanic import Sanic
from sqlalchemy import insert, select

from database.clock import utcnow
from database.seed import seed
from database.session import sessions
from connectors.management.channel import ManagementInput
from connectors.management.config import ManagementConfig
from connectors.whatsapp.tables import contacts, inbound, outbox
from tests.connectors.whatsapp_support import database  # noqa: F401 - a fixture, used by seeded
from tests.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "openapi" / "management.yaml"
TOKEN = "test-management-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ASHA, RAVI = "919800000001", "919800000002"


def operations() -> list[tuple[str, str, bool]]:
    """Return (method, path, needs a token) for every operation in the OpenAPI file."""
    spec = yaml.safe_load(OPENAPI.read_text())
    default = bool(spec.get("security"))
    return [(method.upper(), path, bool(op.get("security", spec.get("security"))) if "security" in op else default)
            for path, item in spec["paths"].items() for method, op in item.items()
            if method in ("get", "post", "put", "patch", "delete")]


@pytest.fixture
def seeded(database: str) -> str:
    """The channel tests' fresh migrated SQLite file (DATABASE_URL), with the demo data."""
    seed()
    return database


def add_contact(wa_id: str, last_inbound_at: Optional[datetime], opted_out: bool = False,
                profile_name: str = "Test User") -> None:
    """Store a contact as the channel would after their messages."""
    now = utcnow()
    seen = last_inbound_at or now - timedelta(days=30)
    with sessions().begin() as session:
        session.execute(insert(contacts).values(
            wa_id=wa_id, profile_name=profile_name, first_seen=seen, last_seen=seen,
            last_inbound_at=last_inbound_at, opted_out=opted_out, marketing_stopped=False))


def add_inbound(wa_id: str, text: str, at: Optional[datetime] = None, state: str = "done",
                wamid: Optional[str] = None) -> int:
    """Store one inbound text message as the channel would; return its id."""
    at = at or utcnow()
    with sessions().begin() as session:
        result = session.execute(insert(inbound).values(
            wamid=wamid or f"wamid.{uuid.uuid4().hex}", wa_id=wa_id, phone_number_id="109876543210", kind="text",
            text=text, meta={}, timestamp=int(at.timestamp()), state=state, attempts=1, received_at=at))
        return int(result.inserted_primary_key[0])


@dataclass
class Agent:
    """Stands in for Rasa's Agent where the API looks: readiness and the action endpoint."""

    action_url: Optional[str]
    ready: bool = True

    @property
    def action_endpoint(self) -> Optional[EndpointConfig]:
        """Return the action server endpoint, as Rasa's Agent holds it."""
        return EndpointConfig(self.action_url) if self.action_url else None

    def is_ready(self) -> bool:
        """Return whether a model is loaded."""
        return self.ready


@dataclass
class ActionServer:
    """A real HTTP server answering GET /health with a status the test chooses."""

    status: int = 200
    server: Optional[TestServer] = None

    async def health(self, _: web.Request) -> web.Response:
        """Answer like rasa_sdk's /health."""
        return web.json_response({"status": "ok"}, status=self.status)


@dataclass
class Api:
    """A running management API: call it as an operator would."""

    url: str
    http: aiohttp.ClientSession
    agent: Agent
    actions: ActionServer
    channel: ManagementInput
    app: Sanic

    async def call(self, method: str, path: str, body: Any = None, headers: Optional[dict[str, str]] = None,
                   params: Optional[dict[str, Any]] = None, raw: Optional[bytes] = None) -> tuple[int, Any]:
        """Make one request (with the token unless headers say otherwise); return (status, JSON or text)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        async with self.http.request(method, self.url + path, data=data, params=params,
                                     headers=AUTH if headers is None else headers) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


async def serve(config: ManagementConfig, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """Serve the channel's blueprint at /api/whatsapp on 127.0.0.1 with the stand-ins."""
    monkeypatch.setattr(Sanic, "test_mode", True)  # lets Sanic start several apps in one process
    actions = ActionServer()
    action_app = web.Application()
    action_app.router.add_get("/health", actions.health)
    actions.server = TestServer(action_app, host="127.0.0.1")
    await actions.server.start_server()
    agent = Agent(f"http://127.0.0.1:{actions.server.port}/webhook")
    channel = ManagementInput(config)
    app = Sanic(f"management_test_{uuid.uuid4().hex}")
    app.ctx.agent = agent
    app.blueprint(channel.blueprint(_no_rasa), url_prefix="/api/whatsapp")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        yield Api(f"http://127.0.0.1:{port}/api/whatsapp", http, agent, actions, channel, app)
    await server.before_stop()
    await server.close()
    await server.after_stop()
    await actions.server.close()


async def _no_rasa(_message: Any) -> None:
    """The management channel never hands messages to Rasa."""


# Scans off and a long idle time: the tests run scans and hand-backs themselves.
QUIET = {"notify_scan_seconds": 0.0, "handoff_idle_minutes": 30.0}


@pytest_asyncio.fixture
async def api(seeded: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """The API with a token configured; no background jobs."""
    async for running in serve(ManagementConfig(api_token=TOKEN, **QUIET), monkeypatch):
        yield running


@pytest_asyncio.fixture
async def api_off(seeded: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """The API with no token configured: switched off."""
    async for running in serve(ManagementConfig(api_token=None, **QUIET), monkeypatch):
        yield running


def add_outbound(wa_id: str, text: str, at: Optional[datetime] = None, state: str = "sent",
                 delivery_status: Optional[str] = None, key: Optional[str] = None, kind: str = "reply",
                 error_code: Optional[int] = None, sent_at: Optional[datetime] = None) -> int:
    """Store one outbox row as the channel's sender would leave it; return its id."""
    at = at or utcnow()
    payload = {"messaging_product": "whatsapp", "to": "+" + wa_id, "type": "text", "text": {"body": text}}
    with sessions().begin() as session:
        result = session.execute(insert(outbox).values(
            wa_id=wa_id, inbound_wamid=key or f"wamid.{uuid.uuid4().hex}", seq=0, kind=kind, payload=payload,
            state=state, attempts=1, next_attempt_at=at, graph_wamid=f"wamid.out{uuid.uuid4().hex}",
            last_error_code=error_code, delivery_status=delivery_status, status_rank=0, created_at=at,
            sent_at=sent_at or (at if state == "sent" else None)))
        return int(result.inserted_primary_key[0])


def outbox_rows(wa_id: Optional[str] = None) -> list[Any]:
    """Return outbox rows (of one number), oldest first."""
    stmt = select(outbox).order_by(outbox.c.id)
    if wa_id is not None:
        stmt = stmt.where(outbox.c.wa_id == wa_id)
    with sessions()() as session:
        return session.execute(stmt).all()
