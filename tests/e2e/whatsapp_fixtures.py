"""The real assistant behind the WhatsApp channel, with the fake Graph API playing Meta.

The fake runs in its own thread (so the `rasa run` subprocess can reach it at any time) and a
status pump plays Meta's other half: for every message the fake accepted it POSTs a signed
"sent" status webhook (echoing biz_opaque_callback_data), retrying while Rasa is down.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import signal
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

from tests.connectors.whatsapp_support import delivery, signed, status, text
from tests.fakes.graph_api import FakeGraph
from tests.harness import Stack, keep_logs, running_stack, start_rasa

PHONE_NUMBER_ID = "109876543210"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ThreadedGraph:
    """The fake Graph API served by its own event loop thread on 127.0.0.1."""

    def __init__(self, token: str, phone_number_id: str) -> None:
        self.fake = FakeGraph(token, phone_number_id)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-graph", daemon=True)

    def start(self) -> ThreadedGraph:
        """Serve until stop()."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Stop serving and end the thread."""
        asyncio.run_coroutine_threadsafe(self.fake.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return self.fake.base_url

    def sent_to(self, wa_id: str) -> list[dict[str, Any]]:
        """Return the messages the user's phone received so far, in order."""
        return self.fake.state.sent(wa_id)

    def wait_for(self, wa_id: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until the user received at least count messages (or timeout); return them all."""
        deadline = time.monotonic() + timeout
        while len(self.sent_to(wa_id)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.sent_to(wa_id)

    def accepted(self) -> list[Any]:
        """Return the records of accepted sends (not mark-as-read), oldest first."""
        return [r for r in list(self.fake.state.records)
                if r.status == 200 and r.path.endswith("/messages") and isinstance(r.body, dict)
                and "status" not in r.body]


@dataclass
class WhatsAppStack:
    """`rasa run` with the WhatsApp channel, its action server and database, and the fake Graph."""

    stack: Stack
    graph: ThreadedGraph
    credentials: Path
    app_secret: str
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=50))

    @property
    def webhook_url(self) -> str:
        """Return the webhook URL Meta would call."""
        return f"{self.stack.rasa_url}/webhooks/whatsapp/webhook"

    def post(self, body: dict[str, Any] | bytes, headers: Optional[dict[str, str]] = None) -> tuple[int, Any]:
        """POST a delivery signed with the app secret (or raw bytes with headers); return (status, JSON)."""
        raw, signed_headers = signed(body, self.app_secret)
        request = urllib.request.Request(self.webhook_url, raw, signed_headers if headers is None else headers)
        try:
            with _NO_PROXY.open(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def say(self, wa_id: str, words: str) -> str:
        """Send one text from wa_id; return its wamid after checking the webhook acked it."""
        contact, msg = text(wa_id, words)
        assert self.post(delivery((contact, msg))) == (200, {"status": "ok"})
        return msg["id"]

    def settled(self, wa_id: str, count: int, timeout: float = 30.0, quiet: float = 2.0) -> list[dict[str, Any]]:
        """Wait for count messages to the user, then quiet seconds more; return everything received."""
        self.graph.wait_for(wa_id, count, timeout)
        time.sleep(quiet)
        return self.graph.sent_to(wa_id)

    def rows(self, table: str, where: str = "1 = 1") -> int:
        """Count rows in one of the channel's tables."""
        path = self.stack.db_url.removeprefix("sqlite:///")
        with sqlite3.connect(path, timeout=10) as db:
            return db.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]  # noqa: S608

    def restart_rasa(self, sig: int = signal.SIGTERM) -> None:
        """Stop Rasa with sig (SIGKILL: no clean-up at all) and start it again."""
        self.stack.services["rasa"].stop(sig)
        start_rasa(self.stack, self.credentials)


class StatusPump:
    """Play Meta's status webhooks: one signed "sent" status per accepted send, retried until acked.

    accepted: the stand-in's accepted sends, oldest first; post(raw, stop): deliver one signed
    status body, True once acknowledged. Tracked by wamid, not by position: a slow send can be
    accepted after later ones.
    """

    def __init__(self, accepted: Callable[[], list[Any]], post: Callable[[bytes, threading.Event], bool]) -> None:
        self.accepted = accepted
        self.post = post
        self.posted: set[str] = set()  # Graph wamids whose status was acknowledged
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-pump", daemon=True)

    def start(self) -> StatusPump:
        """Start pumping in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop pumping."""
        self._stop.set()
        self._thread.join(30)

    def caught_up(self) -> bool:
        """Return True once every accepted send so far had its status acknowledged."""
        return all(graph_wamid(r) in self.posted for r in self.accepted())

    def _run(self) -> None:
        """Deliver one status per accepted send, in the order Meta accepted them."""
        while not self._stop.is_set():
            for record in self.accepted():
                wamid = graph_wamid(record)
                if wamid in self.posted:
                    continue
                to = "".join(ch for ch in str(record.body.get("to", "")) if ch.isdigit())
                item = status(wamid, "sent", to, callback=record.body.get("biz_opaque_callback_data"))
                raw = json.dumps(delivery(statuses=(item,), phone_number_id=PHONE_NUMBER_ID)).encode()
                if self._stop.is_set() or not self.post(raw, self._stop):
                    break  # Rasa is down: try again shortly, as Meta would
                self.posted.add(wamid)
            self._stop.wait(0.1)


def graph_wamid(record: Any) -> str:
    """Return the wamid the stand-in gave an accepted send."""
    return record.response["messages"][0]["id"]


def status_pump(whatsapp: WhatsAppStack) -> StatusPump:
    """Return a (not yet started) pump posting straight to this stack's webhook."""

    def acked(raw: bytes, _stop: threading.Event) -> bool:
        try:
            return whatsapp.post(raw)[0] == 200
        except OSError:
            return False

    return StatusPump(whatsapp.graph.accepted, acked)


@pytest.fixture(scope="module")
def whatsapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WhatsAppStack]:
    """Run the assistant with the WhatsApp channel against a fake Graph API, with fresh secrets."""
    with serving_whatsapp(tmp_path_factory.mktemp("whatsapp")) as stack:
        yield stack


@contextmanager
def serving_whatsapp(workdir: Path, extra_env: Optional[dict[str, str]] = None) -> Iterator[WhatsAppStack]:
    """Run the WhatsApp stack in workdir (extra_env: more channel settings); stop it afterwards."""
    token, app_secret, verify = (secrets.token_urlsafe(24) for _ in range(3))
    graph = ThreadedGraph(token, PHONE_NUMBER_ID).start()
    credentials = workdir / "credentials.yml"
    credentials.write_text("connectors.whatsapp.WhatsAppInput:\nrest:\n")
    env = {
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": "102030405060",
        "WHATSAPP_API_TOKEN": token, "WHATSAPP_APP_SECRET": app_secret,
        "WHATSAPP_WEBHOOK_VERIFY_TOKEN": verify, "WHATSAPP_GRAPH_API_URL": graph.base_url,
        "WHATSAPP_MEDIA_DIR": str(workdir / "media"), **(extra_env or {}),
    }
    pump: Optional[StatusPump] = None
    try:
        with running_stack(workdir, credentials=credentials, extra_env=env) as stack:
            whatsapp_stack = WhatsAppStack(stack, graph, credentials, app_secret)
            pump = status_pump(whatsapp_stack).start()
            yield whatsapp_stack
            whatsapp_stack.pool.shutdown()
    finally:
        if pump is not None:
            pump.stop()
        graph.stop()
        keep_logs(workdir, Path(__file__).resolve().parents[2] / "var" / "e2e-logs" / workdir.name)


def titles(message: dict[str, Any]) -> list[str]:
    """Return the tappable titles of an interactive message (rows of a list, or reply buttons)."""
    action = message["interactive"]["action"]
    if "sections" in action:
        return [row["title"] for section in action["sections"] for row in section["rows"]]
    return [button["reply"]["title"] for button in action["buttons"]]


def body_text(message: dict[str, Any]) -> str:
    """Return what the user reads in a text or interactive message."""
    if message["type"] == "text":
        return message["text"]["body"]
    return message["interactive"]["body"]["text"]


def partial_post(url: str, headers: dict[str, str], length: int, first: bytes) -> tuple[int, bytes]:
    """POST headers announcing length bytes, send only first, and return (status, body) of the answer."""
    parts = urllib.parse.urlsplit(url)
    lines = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {length}",
             *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        sock.sendall("\r\n".join(lines).encode() + first)
        received = b""
        while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) < _content_length(received):
            chunk = sock.recv(65536)  # a timeout here means the server is waiting for the rest
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _content_length(received: bytes) -> int:
    """Return the Content-Length of the answer's head received so far."""
    for line in received.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0
