"""No token, secret or full phone number of a user reaches any log line of any service, even at DEBUG.

The real stack runs at DEBUG with secrets made for this run: the action server (-vv), `rasa run` with
the WhatsApp and management channels (LOG_LEVEL and LOG_LEVEL_LIBRARIES=DEBUG, so Rasa logs sender
ids, texts and trackers, and Sanic its access lines) and the simulator playing Meta. Two customers
chat (menus, an order, a defect report with a photo), a stranger's delivery is forged, the webhook is
verified with the right and a wrong token, Graph fails (500s, a permanent error, a closed window and
an expired token, 190), an order status change is notified, and an operator calls the API with the
token and with a wrong one. Then every log file of every service is read line by line.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import struct
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import pytest

from connectors.redact import mask_number
from tests.connectors.whatsapp_support import delivery, signed, text
from tests.harness import (
    MODEL, ROOT, Service, Stack, base_env, free_port, keep_logs, prepare_database, start, start_rasa, wait_http,
)

PHONE_NUMBER_ID = "109876543210"
ASHA, BHARAT, STAFF, STRANGER = "919800000001", "919800000002", "919800000009", "919800000099"
USERS = (ASHA, BHARAT, STAFF, STRANGER)
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Leak:
    """One forbidden value found in a log line."""

    log: str
    line_number: int
    what: str


def find_leaks(lines: Iterable[str], forbidden: dict[str, str], log: str) -> list[Leak]:
    """Return every (line, forbidden value) pair where the value appears in the line."""
    return [Leak(log, number, what) for number, line in enumerate(lines, 1)
            for what, value in forbidden.items() if value in line]


def test_the_scanner_finds_a_planted_secret_or_number_and_passes_masked_ones() -> None:
    """The scan flags a raw token or number in any line and accepts their masked forms."""
    forbidden = {"WHATSAPP_API_TOKEN": "tok-123456789", f"number {ASHA}": ASHA}
    lines = ["INFO started", f"DEBUG sender {mask_number(ASHA)} Bearer ***",
             "DEBUG GET /x?access_token=tok-123456789", f"DEBUG lock_{ASHA}"]
    assert find_leaks(lines, forbidden, "x.log") == [Leak("x.log", 3, "WHATSAPP_API_TOKEN"),
                                                   Leak("x.log", 4, f"number {ASHA}")]


@dataclass
class LoggedStack:
    """The running services, the simulator's URL and this run's secrets."""

    stack: Stack
    simulator_url: str
    secrets: dict[str, str]  # variable name -> value
    services: list[Service]

    @property
    def api_url(self) -> str:
        """Return the management API root."""
        return f"{self.stack.rasa_url}/api/whatsapp"

    @property
    def webhook_url(self) -> str:
        """Return the channel's webhook URL."""
        return f"{self.stack.rasa_url}/webhooks/whatsapp/webhook"

    def stop(self) -> None:
        """Stop the simulator, Rasa and the action server, so that every log is complete."""
        for service in reversed(self.services):
            service.stop()


def call(url: str, method: str = "GET", body: Optional[bytes] = None,
         headers: Optional[dict[str, str]] = None) -> tuple[int, Any]:
    """Make one HTTP call without proxies; return (status, JSON or None)."""
    request = urllib.request.Request(url, body, headers or {}, method=method)
    try:
        with _NO_PROXY.open(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedStack]:
    """Run the action server, Rasa and the simulator at DEBUG with fresh secrets; stop them afterwards."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `rasa train --fixed-model-name assistant` first")
    workdir = tmp_path_factory.mktemp("log-secrets")
    run_secrets = {name: secrets.token_urlsafe(24) for name in (
        "WHATSAPP_API_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_WEBHOOK_VERIFY_TOKEN", "MANAGEMENT_API_TOKEN",
        "TRACKER_DB_PASSWORD", "REDIS_PASSWORD")}
    db_url = f"sqlite:///{workdir / 'assistant.db'}"
    prepare_database(db_url, workdir / "setup.log")
    action_port, rasa_port, simulator_port = free_port(), free_port(), free_port()
    simulator_url = f"http://127.0.0.1:{simulator_port}"
    (workdir / "endpoints.yml").write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
        f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {workdir / 'tracker.db'}\n")
    credentials = workdir / "credentials.yml"
    credentials.write_text("connectors.whatsapp.WhatsAppInput:\nconnectors.management.ManagementInput:\n")
    env = base_env(db_url, {
        **run_secrets, "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": "102030405060",
        "WHATSAPP_GRAPH_API_URL": simulator_url, "WHATSAPP_MEDIA_DIR": str(workdir / "media"),
        "NOTIFY_SCAN_SECONDS": "1", "LOG_LEVEL": "DEBUG", "LOG_LEVEL_LIBRARIES": "DEBUG",
    })
    stack = Stack(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{action_port}", db_url, workdir, env)
    services: list[Service] = []
    running = LoggedStack(stack, simulator_url, run_secrets, services)
    try:
        actions = start(["python", "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port), "-vv"],
                        env, workdir / "actions.log")
        services.append(actions)
        wait_http(f"{stack.actions_url}/health", proc=actions.proc)
        services.append(start_rasa(stack, credentials, rasa_port))
        simulator = start(["python", "-m", "simulator", "--port", str(simulator_port),
                           "--rasa-webhook", running.webhook_url], env, workdir / "simulator.log")
        services.append(simulator)
        wait_http(f"{simulator_url}/", proc=simulator.proc, timeout=30)
        yield running
    finally:
        running.stop()
        keep_logs(workdir, ROOT / "var" / "e2e-logs" / workdir.name)


class Phone:
    """One user's phone in the simulator: what they type, tap or photograph, and what arrives."""

    def __init__(self, logged: LoggedStack, wa_id: str) -> None:
        self.logged, self.wa_id = logged, wa_id

    def received(self) -> list[dict[str, Any]]:
        """Return every message the business sent to this phone so far."""
        return call(f"{self.logged.simulator_url}/_test/messages?to={self.wa_id}")[1]["messages"]

    def settle(self, before: int, at_least: int = 1, timeout: float = 60.0, quiet: float = 1.5) -> int:
        """Wait until at_least new messages arrived and nothing more for quiet seconds; return the count."""
        deadline = time.monotonic() + timeout
        count, since = len(self.received()), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = len(self.received())
            if now != count:
                count, since = now, time.monotonic()
            elif count - before >= at_least and time.monotonic() - since >= quiet:
                break
        return count

    def say(self, words: str, at_least: int = 1) -> int:
        """Type words and wait for the answer; return how many messages arrived for it."""
        before = len(self.received())
        status, _ = call(f"{self.logged.simulator_url}/sim/api/chats/{self.wa_id}/messages", "POST",
                         json.dumps({"kind": "text", "text": words}).encode(), {"Content-Type": "application/json"})
        assert status == 200
        return self.settle(before, at_least) - before

    def send_photo(self, caption: str) -> int:
        """Send a small PNG with a caption and wait for the answer; return how many messages arrived."""
        before = len(self.received())
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"defect.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + tiny_png() + (
                f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n{caption}\r\n"
                f"--{boundary}--\r\n").encode()
        status, _ = call(f"{self.logged.simulator_url}/sim/api/chats/{self.wa_id}/photos", "POST", body,
                         {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert status == 200
        return self.settle(before) - before


def tiny_png() -> bytes:
    """Return a valid 1x1 red PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


def graph_fails(logged: LoggedStack, **knobs: Any) -> None:
    """Set the Graph stand-in's failure knobs."""
    assert call(f"{logged.simulator_url}/_test/fail", "POST", json.dumps(knobs).encode(),
                {"Content-Type": "application/json"})[0] == 200


@contextmanager
def database_locked(logged: LoggedStack, seconds: float = 7.0) -> Iterator[None]:
    """Hold an exclusive lock on the business database for a few seconds: every write waits, then fails."""
    taken = threading.Event()

    def hold() -> None:
        db = sqlite3.connect(logged.stack.db_url.removeprefix("sqlite:///"), timeout=10, isolation_level=None)
        try:
            db.execute("BEGIN EXCLUSIVE")
            taken.set()
            time.sleep(seconds)
            db.execute("ROLLBACK")
        finally:
            db.close()

    holder = threading.Thread(target=hold, name="database-lock", daemon=True)
    holder.start()
    assert taken.wait(15)
    try:
        yield
    finally:
        holder.join(seconds + 15)


def chat_as_customers(logged: LoggedStack) -> None:
    """Two customers and a stranger chat: menus, orders, a defect report with a photo, someone else's order."""
    asha, bharat = Phone(logged, ASHA), Phone(logged, BHARAT)
    assert asha.say("hi") >= 1
    for words in ("menu", "1", "where is my order ORD-10001?", "/menu_defects", "1", "2",
                  "The cones arrived wet and the yarn is stained"):
        asha.say(words)
    assert asha.send_photo(f"water damage, call me on {ASHA}") >= 1
    asha.say("yes")
    for words in ("hi", "where is ORD-10001", "show my orders"):  # ORD-10001 is Asha's: not found
        bharat.say(words)
    Phone(logged, STRANGER).say("where is my order ORD-10003?")  # unregistered: a polite refusal


def attack_the_webhook(logged: LoggedStack) -> None:
    """A forged and an unsigned delivery, and the verify handshake with the right and wrong tokens."""
    verify = logged.secrets["WHATSAPP_WEBHOOK_VERIFY_TOKEN"]
    forged = json.dumps(delivery(text(STRANGER, f"I am {ASHA}, show her orders"))).encode()
    _, headers = signed(forged, "not-the-app-secret")
    assert call(logged.webhook_url, "POST", forged, headers)[0] == 403
    assert call(logged.webhook_url, "POST", forged, {"Content-Type": "application/json"})[0] == 401
    challenge = f"{logged.webhook_url}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="
    assert call(challenge + verify)[0] == 200
    assert call(challenge + "wrong-verify-token-123")[0] == 403
    assert call(f"{logged.webhook_url}?hub.mode=subscribe&hub.challenge=1&access_token={verify}")[0] >= 400
    assert call(f"{logged.stack.rasa_url}/conversations/{ASHA}/tracker?token={verify}")[0] == 404


def fail_graph_and_database(logged: LoggedStack) -> None:
    """Graph fails (500s, a permanent error, a closed window, an expired token); the database locks up."""
    asha, bharat = Phone(logged, ASHA), Phone(logged, BHARAT)
    for phone in (asha, bharat):  # earlier replies all in, so the failures below hit this step's sends
        phone.settle(len(phone.received()), at_least=0, quiet=3.0)
    graph_fails(logged, next=2, status=500)  # retried with backoff, then delivered
    assert bharat.say("menu") >= 1
    graph_fails(logged, next=1, code=131008)  # a permanent error: logged once, not retried
    bharat.say("help", at_least=0)
    json_headers = {"Content-Type": "application/json"}
    call(f"{logged.simulator_url}/_test/window_closed", "POST", json.dumps({"wa_ids": [BHARAT]}).encode(), json_headers)
    bharat.say("hi", at_least=0)  # 131047: the window is closed
    call(f"{logged.simulator_url}/_test/window_closed", "POST", b'{"wa_ids": []}', json_headers)
    graph_fails(logged, next=1, code=190)  # the token expired: every send holds, then resumes
    assert asha.say("menu") >= 1
    with database_locked(logged):  # the channel cannot store or drain: tracebacks at DEBUG
        asha.say(f"menu, or call {ASHA}", at_least=0)


def operate(logged: LoggedStack) -> None:
    """A status change is notified; an operator uses the API with the token, then someone with a wrong one."""
    bharat = Phone(logged, BHARAT)
    with sqlite3.connect(logged.stack.db_url.removeprefix("sqlite:///"), timeout=10) as db:
        db.execute("UPDATE orders SET status = 'ready' WHERE ref = 'ORD-10003'")
    bharat.settle(len(bharat.received()), at_least=1, timeout=20)  # the status notification
    bearer = {"Authorization": f"Bearer {logged.secrets['MANAGEMENT_API_TOKEN']}",
              "Content-Type": "application/json"}
    assert call(f"{logged.api_url}/messages?wa_id={ASHA}&limit=5", headers=bearer)[0] == 200
    assert call(f"{logged.api_url}/contacts", headers=bearer)[0] == 200
    assert call(f"{logged.api_url}/health", headers=bearer)[0] == 200
    sent = call(f"{logged.api_url}/send", "POST", json.dumps({"to": ASHA, "text": "Leaves today."}).encode(), bearer)
    assert sent[0] in (200, 202), sent
    assert call(f"{logged.api_url}/handoffs/{BHARAT}/release", "POST", b"{}", bearer)[0] < 500
    wrong = {"Authorization": "Bearer wrong-management-token-xyz", "Content-Type": "application/json"}
    assert call(f"{logged.api_url}/messages?wa_id={BHARAT}", headers=wrong)[0] == 401
    assert call(f"{logged.api_url}/handoffs/{BHARAT}/reply", "POST", b'{"text": "hi"}', wrong)[0] == 401
    Phone(logged, ASHA).settle(0, at_least=0, timeout=5)


def test_no_secret_or_full_phone_number_reaches_any_log_line(logged: LoggedStack) -> None:
    """After two customers' chats, attacks, Graph failures and operator calls, no log line holds a secret or number."""
    chat_as_customers(logged)
    attack_the_webhook(logged)
    fail_graph_and_database(logged)
    operate(logged)
    logged.stop()
    forbidden = {**logged.secrets, "wrong management token": "wrong-management-token-xyz",
                 "wrong verify token": "wrong-verify-token-123",
                 **{f"number {wa_id}": wa_id for wa_id in USERS}}
    logs = sorted(logged.stack.workdir.glob("*.log"))
    assert {log.name for log in logs} >= {"actions.log", "rasa.log", "simulator.log", "setup.log"}
    leaks: list[Leak] = []
    counts: dict[str, int] = {}
    for log in logs:
        lines = log.read_text(errors="replace").splitlines()
        counts[log.name] = len(lines)
        leaks += find_leaks(lines, forbidden, log.name)
    print(f"log lines scanned: {sum(counts.values())} " + " ".join(f"{k}={v}" for k, v in counts.items()))
    assert not leaks, "\n".join([f"{leak.log}:{leak.line_number} holds {leak.what}" for leak in leaks[:20]]
                                 + [f"{len(leaks)} leaks in all"])
    rasa_log = (logged.stack.workdir / "rasa.log").read_text()
    # Not vacuous: every service logged at DEBUG, the sender ids went through the masking, and the
    # failures and refusals above were logged.
    assert mask_number(ASHA) in rasa_log and mask_number(BHARAT) in rasa_log
    for event in ("whatsapp.send.retry", "whatsapp.send.failed", "whatsapp.send.window_closed",
                  "whatsapp.send.token_expired", "management.notify.queued", "management.api.unauthorized",
                  "error=OperationalError", "Traceback (most recent call last)"):
        assert event in rasa_log, event
    assert all("DEBUG" in (logged.stack.workdir / name).read_text() for name in ("actions.log", "simulator.log"))
