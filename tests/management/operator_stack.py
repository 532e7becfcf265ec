"""The real assistant with the WhatsApp and management channels, against the Graph stand-in.

Like tests/e2e/whatsapp_fixtures.py (whose pieces it reuses), plus the management API with a fresh
token, fast notification scans and a helper to call the API as an operator would.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

from tests.e2e.whatsapp_fixtures import PHONE_NUMBER_ID, StatusPump, ThreadedGraph, WhatsAppStack, status_pump
from tests.harness import keep_logs, running_stack

CREDENTIALS = "connectors.whatsapp.WhatsAppInput:\nconnectors.management.ManagementInput:\nrest:\n"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Operator:
    """The running stack seen from the operator's desk: the API with its token, and the database."""

    whatsapp: WhatsAppStack
    token: str

    @property
    def api_url(self) -> str:
        """Return http://127.0.0.1:PORT/api/whatsapp."""
        return f"{self.whatsapp.stack.rasa_url}/api/whatsapp"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the API with the token; return (status, JSON)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.api_url + path, data, headers, method=method)
        try:
            with _NO_PROXY.open(request, timeout=15) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def sql(self, statement: str, *params: Any) -> list[tuple]:
        """Run SQL on the business database (as a back-office tool would) and return the rows."""
        path = self.whatsapp.stack.db_url.removeprefix("sqlite:///")
        with sqlite3.connect(path, timeout=10) as db:
            return db.execute(statement, params).fetchall()


def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Wait until check() returns something truthy and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in {timeout:.0f}s")


@contextmanager
def operator_stack(workdir: Path, extra_env: Optional[Mapping[str, str]] = None,
                   channels: str = CREDENTIALS) -> Iterator[Operator]:
    """Run Rasa with both channels (or channels: a credentials.yml text), the action server and the fake Graph."""
    graph_token, app_secret, verify, api_token = (secrets.token_urlsafe(24) for _ in range(4))
    graph = ThreadedGraph(graph_token, PHONE_NUMBER_ID).start()
    credentials = workdir / "credentials.yml"
    credentials.write_text(channels)
    env = {
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": "102030405060",
        "WHATSAPP_API_TOKEN": graph_token, "WHATSAPP_APP_SECRET": app_secret,
        "WHATSAPP_WEBHOOK_VERIFY_TOKEN": verify, "WHATSAPP_GRAPH_API_URL": graph.base_url,
        "WHATSAPP_MEDIA_DIR": str(workdir / "media"), "MANAGEMENT_API_TOKEN": api_token,
        **(extra_env or {}),
    }
    pump: Optional[StatusPump] = None
    try:
        with running_stack(workdir, credentials=credentials, extra_env=env) as stack:
            whatsapp = WhatsAppStack(stack, graph, credentials, app_secret)
            pump = status_pump(whatsapp).start()
            yield Operator(whatsapp, api_token)
            whatsapp.pool.shutdown()
    finally:
        if pump is not None:
            pump.stop()
        graph.stop()
        keep_logs(workdir, Path(__file__).resolve().parents[2] / "var" / "e2e-logs" / workdir.name)
