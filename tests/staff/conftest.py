"""The staff channel on a real Sanic server over a migrated, seeded SQLite file, called as a browser would."""
from __future__ import annotations

import json
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, AsyncIterator, Optional

import aiohttp
import pytest
import pytest_asyncio
from sanic import Sanic

from connectors.staff import accounts
from connectors.staff.channel import StaffInput
from connectors.staff.config import OfferedTemplate, StaffConfig
from tests.harness import free_port
from tests.management.conftest import seeded  # noqa: F401 - fixture
from tests.connectors.whatsapp_support import database  # noqa: F401 - fixture

PASSWORD = "correct horse battery"
CONFIG = StaffConfig(max_failures_per_user=3, max_failures_per_ip=6, login_window=timedelta(minutes=15),
                     templates=(OfferedTemplate("hello_again", "en"),))


@dataclass
class Browser:
    """A cookie-keeping HTTP client on the staff channel: what a browser tab would send."""

    url: str
    http: aiohttp.ClientSession
    csrf: str = ""

    async def call(self, method: str, path: str, body: Any = None, headers: Optional[dict[str, str]] = None,
                   csrf: Optional[str] = None, raw: Optional[bytes] = None) -> tuple[int, Any, aiohttp.ClientResponse]:
        """Make one request (with the CSRF header on writes unless told otherwise); return status, JSON, response."""
        sent = dict(headers or {})
        if method != "GET" and "X-CSRF-Token" not in sent:
            token = self.csrf if csrf is None else csrf
            if token:
                sent["X-CSRF-Token"] = token
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        async with self.http.request(method, self.url + path, data=data, headers=sent,
                                     allow_redirects=False) as response:
            text = await response.text()
            payload = json.loads(text) if response.content_type == "application/json" else text
            return response.status, payload, response

    async def sign_in(self, username: str, password: str = PASSWORD) -> tuple[int, Any, aiohttp.ClientResponse]:
        """Fetch the sign-in token, then sign in; keep the session's CSRF token on success."""
        _, token, _ = await self.call("GET", "/api/signin")
        status, body, response = await self.call("POST", "/api/signin", {"username": username, "password": password},
                                                 csrf=token["csrf_token"])
        if status == 200:
            self.csrf = body["csrf_token"]
        return status, body, response


@dataclass
class Served:
    """The running channel: open browsers on it."""

    url: str
    app: Sanic

    def browser(self, http: aiohttp.ClientSession) -> Browser:
        """Return a client with its own cookie jar."""
        return Browser(self.url, http)


@pytest.fixture
def staff_accounts(seeded: str) -> dict[str, int]:  # noqa: F811
    """Two staff accounts, meera and arjun, with PASSWORD."""
    return {"meera": accounts.create("meera", "Meera", PASSWORD), "arjun": accounts.create("arjun", "Arjun", PASSWORD)}


@pytest_asyncio.fixture
async def served(staff_accounts: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    """Serve the staff blueprint at /staff on 127.0.0.1."""
    async with serve(CONFIG, monkeypatch) as running:
        yield running


@asynccontextmanager
async def serve(config: StaffConfig, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    """Serve the staff blueprint with config at /staff on 127.0.0.1 until the block ends."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    channel = StaffInput(config)
    app = Sanic(f"staff_test_{uuid.uuid4().hex}")
    app.blueprint(channel.blueprint(_no_rasa), url_prefix=channel.url_prefix())
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    yield Served(f"http://127.0.0.1:{port}/staff", app)
    await server.before_stop()
    await server.close()
    await server.after_stop()


@pytest_asyncio.fixture
async def tab(served: Served) -> AsyncIterator[Browser]:
    """One browser tab (its own cookies), not signed in."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     timeout=aiohttp.ClientTimeout(total=20)) as http:
        yield served.browser(http)


@pytest_asyncio.fixture
async def other_tab(served: Served) -> AsyncIterator[Browser]:
    """A second browser (its own cookies), not signed in."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     timeout=aiohttp.ClientTimeout(total=20)) as http:
        yield served.browser(http)


async def _no_rasa(_message: Any) -> None:
    """The staff channel never hands messages to Rasa."""
