"""The data API on a real Sanic server over a migrated, seeded SQLite file, called over HTTP."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator, Optional

import aiohttp
import pytest
import pytest_asyncio
from sanic import Sanic

from database.seed import seed
from connectors.data.channel import DataInput
from connectors.data.config import DataConfig
from tests.connectors.whatsapp_support import database  # noqa: F401 - a fixture, used by seeded
from tests.harness import free_port

TOKEN = "test-data-token-0123456789abcdef"
STAFF_TOKEN = "test-staff-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def seeded(database: str) -> str:
    """A fresh migrated SQLite file (DATABASE_URL) with the demo data."""
    seed()
    return database


@dataclass
class Api:
    """A running data API: call it as the ERP would."""

    url: str
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None, headers: Optional[dict[str, str]] = None,
                   raw: Optional[bytes] = None) -> tuple[int, Any]:
        """Make one request (with the data token unless headers say otherwise); return (status, JSON)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        async with self.http.request(method, self.url + path, data=data,
                                     headers=AUTH if headers is None else headers) as response:
            return response.status, await response.json(content_type=None)

    async def put(self, kind: str, *rows: dict[str, Any]) -> tuple[int, Any]:
        """Upsert rows of one kind."""
        return await self.call("PUT", f"/{kind}", {"rows": list(rows)})


async def serve(config: DataConfig, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """Serve the channel's blueprint at /api/data on 127.0.0.1."""
    monkeypatch.setattr(Sanic, "test_mode", True)  # lets Sanic start several apps in one process
    app = Sanic(f"data_test_{uuid.uuid4().hex}")
    app.blueprint(DataInput(config).blueprint(_no_rasa), url_prefix="/api/data")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        yield Api(f"http://127.0.0.1:{port}/api/data", http)
    await server.before_stop()
    await server.close()
    await server.after_stop()


async def _no_rasa(_message: Any) -> None:
    """The data channel never hands messages to Rasa."""


@pytest_asyncio.fixture
async def api(seeded: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """The data API with its token and the operators' token configured."""
    async for running in serve(DataConfig(api_token=TOKEN, staff_token=STAFF_TOKEN), monkeypatch):
        yield running


@pytest_asyncio.fixture
async def api_off(seeded: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """The data API with no token configured: switched off."""
    async for running in serve(DataConfig(api_token=None, staff_token=STAFF_TOKEN), monkeypatch):
        yield running
