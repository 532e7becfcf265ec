"""Two instances behind nginx lose and duplicate no message under load and faults.

Meta's side is played by the test: every delivery is signed, posted through nginx and posted again
(with backoff) until it gets a 200; a tenth of them are delivered twice and deliveries are shuffled
within windows. The Graph API stand-in fails sends (5xx, 130429, hangs past the client's timeout,
sends accepted only after it) and every accepted send gets Meta's "sent" status webhook. Counted at
the stand-in: every acknowledged message is answered exactly once (each outbox row of its turn
accepted once, one Rasa turn per wamid) and each user's replies come in the order of the user's
messages. A one-line summary per scenario is printed and appended to var/fault-results.txt.

PostgreSQL, Redis and nginx are this module's own (scripts/services.sh with SERVICES_DIR and free
ports), so restarting them disturbs nothing else on the machine. Two fast tests (SQLite, no services)
pin the two faults the cluster runs found: a lock-store outage used up a message's three tries, and
a send Meta accepted after the channel's timeout went out twice.
"""
from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import LockError
from sqlalchemy import text as sql_text

from connectors.whatsapp import outbox, store
from connectors.whatsapp.background import Leases, new_owner
from connectors.whatsapp.channel import WhatsAppOutput
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.db import channel_sessions
from connectors.whatsapp.graph import GraphClient
from connectors.whatsapp.outbox import OutboxItem
from connectors.whatsapp.sender import OutboxSender
from connectors.whatsapp.updates import parse_delivery
from connectors.whatsapp.worker import InboundWorker
from tests.connectors.whatsapp_support import delivery, sqlite_database, status, text
from tests.e2e.whatsapp_fixtures import PHONE_NUMBER_ID
from tests.fakes.graph_api import FakeGraph
from tests.harness import free_port
from tests.production.cluster import Cluster, running_cluster, services_command
from tests.production.conftest import _env

RESULTS = Path(__file__).resolve().parents[2] / "var" / "fault-results.txt"
SERVICES_DIR = RESULTS.parent / "fault-services"
FLOW = ("hi", "1", "menu", "4")  # main menu, orders, main menu, help: every step gets a reply
WINDOW = 20  # deliveries shuffled together; fewer than the users, so one user's messages never swap
DUPLICATE_SHARE = 0.10
DELIVER_WITHIN = 150.0  # Meta gives up much later; a test must not
SETTLE_TIMEOUT = 180.0


@dataclass(frozen=True)
class Sent:
    """One user message: its place in the user's conversation and the exact delivery bytes."""

    wa_id: str
    index: int
    wamid: str
    raw: bytes


@dataclass
class Load:
    """Meta delivering a plan of messages: windows of shuffled deliveries, each retried until a 200."""

    cluster: Cluster
    deliveries: list[Sent]
    pause: float = 0.3  # between windows
    acked: set[str] = field(default_factory=set)
    done: int = 0
    failed_posts: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        """Deliver window by window; a window ends when each of its deliveries got a 200 (or gave up)."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            for start in range(0, len(self.deliveries), WINDOW):
                list(pool.map(self._deliver, self.deliveries[start:start + WINDOW]))
                if self.stop.wait(self.pause):
                    return

    def _deliver(self, message: Sent) -> None:
        """POST until a 200, counting the refused attempts."""
        deadline = time.monotonic() + DELIVER_WITHIN
        delay = 0.25
        while not self.stop.is_set():
            if self.cluster.post(message.raw) == 200:
                with self._lock:
                    self.acked.add(message.wamid)
                    self.done += 1
                return
            with self._lock:
                self.failed_posts += 1
            if time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 4.0)
        with self._lock:
            self.done += 1

    def progress(self) -> float:
        """Return the share of deliveries finished."""
        return self.done / len(self.deliveries)


def plan(users: int, rng: random.Random) -> tuple[list[Sent], list[Sent]]:
    """Return (messages, deliveries): FLOW from each of users numbers, some delivered twice, shuffled."""
    tag = rng.randrange(10**5)
    messages = []
    for index, words in enumerate(FLOW):
        for user in range(users):
            wa_id = f"917{tag:05d}{user:04d}"
            # one second apart, oldest first: the order Meta's timestamps give the user's messages
            contact, msg = text(wa_id, words, age_seconds=len(FLOW) - index)
            messages.append(Sent(wa_id, index, msg["id"], json.dumps(delivery((contact, msg))).encode()))
    deliveries = list(messages)
    for message in rng.sample(messages, round(len(messages) * DUPLICATE_SHARE)):  # Meta's redeliveries
        at = deliveries.index(message) + rng.randrange(1, 2 * WINDOW)
        deliveries.insert(min(at, len(deliveries)), message)
    for start in range(0, len(deliveries), WINDOW):
        window = deliveries[start:start + WINDOW]
        rng.shuffle(window)
        deliveries[start:start + WINDOW] = window
    return messages, deliveries


class Hangs:
    """Every `every` seconds, alternately: one Graph send hangs past the channel's 15 s read timeout and
    then fails (504), or the sends starting in a short window are accepted only after that timeout
    (Meta acted, the answer never arrived)."""

    def __init__(self, cluster: Cluster, every: float, seconds: float = 16.0, slow_accepts: bool = True) -> None:
        self.knobs = cluster.graph.fake.state.knobs
        self.records = cluster.graph.fake.state.records
        self.every, self.seconds, self.slow_accepts = every, seconds, slow_accepts
        self.windows: list[tuple[float, float]] = []  # (from, to) time.time() of each slow-accept window
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hangs", daemon=True)

    def __enter__(self) -> Hangs:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.knobs.hang_next, self.knobs.latency_ms = 0, 0

    def _sends(self) -> int:
        """Count the send calls the stand-in has received so far."""
        return sum(1 for r in list(self.records) if r.path.endswith("/messages") and isinstance(r.body, dict)
                   and "status" not in r.body)

    def slow_accepted(self, cluster: Cluster) -> int:
        """Return how many sends were accepted only after the channel's timeout."""
        return sum(any(start <= r.time <= end for start, end in self.windows) for r in cluster.graph.accepted())

    def _run(self) -> None:
        slow = False
        while not self._stop.wait(self.every):
            if slow:  # slow down calls until one send has started (or 2 s passed)
                began, sends = time.time(), self._sends()
                self.knobs.latency_ms = int(self.seconds * 1000)  # read when a call starts
                deadline = time.monotonic() + 2.0
                while self._sends() == sends and time.monotonic() < deadline:
                    time.sleep(0.01)
                self.knobs.latency_ms = 0
                self.windows.append((began, time.time()))
            else:
                self.knobs.hang_seconds, self.knobs.hang_next = self.seconds, 1
            slow = self.slow_accepts and not slow


def settle(cluster: Cluster, timeout: float = SETTLE_TIMEOUT, quiet: float = 3.0) -> float:
    """Wait until no inbound message or outbox row is open and every status was delivered; return seconds."""
    began = time.monotonic()
    deadline, calm_since = began + timeout, None
    while time.monotonic() < deadline:
        try:
            open_rows = cluster.scalar(
                "SELECT (SELECT count(*) FROM whatsapp_inbound WHERE state IN ('pending', 'processing'))"
                " + (SELECT count(*) FROM whatsapp_outbox WHERE state IN ('queued', 'sending'))")
        except Exception:  # noqa: BLE001 - the database may be restarting
            open_rows = -1
        if open_rows == 0 and cluster.pump is not None and cluster.pump.caught_up():
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= quiet:
                return time.monotonic() - began
        else:
            calm_since = None
        time.sleep(0.25)
    return time.monotonic() - began


@dataclass
class Count:
    """What the stand-in's recorded sends say about the messages of a run."""

    sent: int
    acked: int
    answered: int  # every reply of its turn accepted exactly once, and one turn
    duplicates: int  # a reply accepted twice, or the turn run twice
    lost: int  # acked but some reply of its turn never accepted (or no turn at all)
    out_of_order: int  # users whose replies came in another order than their messages
    problems: list[str]

    def line(self, name: str, seconds: float, extra: str) -> str:
        """Return the one-line summary the README and the lead quote."""
        return (f"{name}: sent {self.sent}, acknowledged {self.acked}, answered exactly once {self.answered}, "
                f"duplicates {self.duplicates}, lost {self.lost}, out of order {self.out_of_order} "
                f"({extra}; {seconds:.0f}s)")


def count(cluster: Cluster, messages: list[Sent], acked: set[str]) -> Count:
    """Match the accepted sends (biz_opaque_callback_data = outbox:<id>) to the messages they answer."""
    rows = {r.id: r for r in cluster.rows("SELECT id, wa_id, inbound_wamid, seq, state FROM whatsapp_outbox")}
    rows_of = collections.defaultdict(list)
    for row in rows.values():
        rows_of[row.inbound_wamid].append(row)
    accepted = collections.Counter()
    replies_to = collections.defaultdict(list)  # wa_id -> (message index, seq) in the order they arrived
    position = {m.wamid: m.index for m in messages}
    problems = []
    for record in cluster.graph.accepted():
        callback = str(record.body.get("biz_opaque_callback_data", ""))
        row = rows.get(int(callback.split(":", 1)[1])) if callback.startswith("outbox:") else None
        if row is None:
            problems.append(f"send without an outbox row: {callback!r}")
            continue
        accepted[row.id] += 1
        if row.inbound_wamid in position:
            replies_to[row.wa_id].append((position[row.inbound_wamid], row.seq))
    turns = cluster.user_turns()
    answered = duplicates = lost = 0
    for message in messages:
        if message.wamid not in acked:
            continue
        its_rows = rows_of.get(message.wamid, [])
        twice = [r.id for r in its_rows if accepted[r.id] > 1]
        if twice or turns.get(message.wamid, 0) > 1:
            duplicates += 1
            problems.append(f"{message.wamid} ({message.wa_id} #{message.index}): rows sent twice {twice}, "
                            f"turns {turns.get(message.wamid, 0)}")
        elif its_rows and all(accepted[r.id] == 1 for r in its_rows):
            answered += 1
        else:
            lost += 1
            problems.append(f"{message.wamid} ({message.wa_id} #{message.index}): rows "
                            f"{[(r.id, r.state, accepted[r.id]) for r in its_rows]}, turns {turns.get(message.wamid, 0)}")
    out_of_order = 0
    for wa_id, order in replies_to.items():
        if order != sorted(order):
            out_of_order += 1
            problems.append(f"{wa_id}: replies in the order {order}")
    return Count(len(messages), len(acked & set(position)), answered, duplicates, lost, out_of_order, problems)


def graph_faults(cluster: Cluster, since: float) -> str:
    """Describe the sends the stand-in refused since then, by HTTP status (504: a hang past the timeout)."""
    sends = [r for r in list(cluster.graph.fake.state.records)
             if r.time >= since and r.path.endswith("/messages") and isinstance(r.body, dict) and "status" not in r.body]
    refused = collections.Counter(r.status for r in sends if r.status != 200)
    codes = collections.Counter((r.response or {}).get("error", {}).get("code") for r in sends if r.status == 400)
    return (f"graph sends {len(sends)}, refused {sum(refused.values())} "
            f"{dict(sorted(refused.items()))} (130429: {codes.get(130429, 0)})")


def logged(cluster: Cluster, event: str) -> int:
    """Count the log lines of an event over every instance of the cluster."""
    return sum(instance.log.read_text(errors="replace").count(event) for instance in cluster.instances)


def report(line: str) -> None:
    """Print the summary and append it to var/fault-results.txt."""
    print(line)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a") as out:
        out.write(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%SZ} {line}\n")


def claims(cluster: Cluster, owner: str) -> tuple[int, int]:
    """Return (inbound messages, outbox rows) claimed right now by the lease owner pattern."""
    return tuple(cluster.scalar(f"SELECT count(*) FROM {table} WHERE state = '{state}' AND lease_owner LIKE :owner",
                                owner=owner)
                 for table, state in (("whatsapp_inbound", "processing"), ("whatsapp_outbox", "sending")))


def wait_for(predicate, timeout: float) -> None:  # noqa: ANN001
    """Wait until predicate() or timeout."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def channel_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh migrated SQLite file for the channel (no services needed)."""
    with sqlite_database(tmp_path / "channel.db", monkeypatch) as url:
        yield url


@pytest.mark.asyncio
async def test_a_lock_store_outage_does_not_use_up_a_message(channel_database):
    """Rasa's lock store down for several tries (Redis restarting) leaves the message queued, and it is
    answered once when Redis is back, instead of being given up after three quick tries."""
    wa_id = "919800000077"
    contact, msg = text(wa_id, "hi")
    body = delivery((contact, msg))
    store.save_delivery(json.dumps(body).encode(), parse_delivery(body), PHONE_NUMBER_ID)
    outage = {"left": 5}

    async def on_new_message(message: UserMessage) -> None:
        if outage["left"]:
            outage["left"] -= 1
            raise LockError("Error while acquiring lock. Error:\nConnection refused")
        await message.output_channel.send_text_message(message.sender_id, "Hello")

    async def no_tracker(_wa_id: str) -> None:
        return None

    async with FakeGraph(phone_number_id=PHONE_NUMBER_ID) as graph:
        config = WhatsAppConfig.from_env({
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": "102030405060",
            "WHATSAPP_API_TOKEN": graph.state.token, "WHATSAPP_APP_SECRET": "secret",
            "WHATSAPP_WEBHOOK_VERIFY_TOKEN": "verify", "WHATSAPP_GRAPH_API_URL": graph.base_url})
        client = GraphClient(config)
        worker = InboundWorker(config, client, Leases(new_owner()), on_new_message,
                               lambda who, wamid, kind: WhatsAppOutput(who, wamid, kind), no_tracker)
        try:
            for _ in range(6):  # one poll after another, as fast as the loop would find the sender
                await worker.drain(wa_id)
                assert await worker.find_work() in ([], [wa_id])
        finally:
            await client.close()
    states = store_rows("SELECT state FROM whatsapp_inbound")
    replies = store_rows("SELECT inbound_wamid FROM whatsapp_outbox")
    assert (states, replies) == ([("done",)], [(msg["id"],)])


@pytest.mark.asyncio
async def test_a_send_meta_accepted_after_the_timeout_is_not_sent_again(channel_database):
    """Graph answers only after the channel's timeout, but it did send: the row waits for the status
    webhook (which names the row) instead of going out a second time."""
    wa_id = "919800000078"
    outbox.enqueue([OutboxItem(wa_id, "wamid.in1", 0, "reply", {"messaging_product": "whatsapp", "to": wa_id,
                                                                 "type": "text", "text": {"body": "Hello"}})])
    async with FakeGraph(phone_number_id=PHONE_NUMBER_ID) as graph:
        config = WhatsAppConfig.from_env({
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": "102030405060",
            "WHATSAPP_API_TOKEN": graph.state.token, "WHATSAPP_APP_SECRET": "secret",
            "WHATSAPP_WEBHOOK_VERIFY_TOKEN": "verify", "WHATSAPP_GRAPH_API_URL": graph.base_url})
        client = GraphClient(config, timeout=aiohttp.ClientTimeout(total=2, sock_read=0.3))
        sender = OutboxSender(config, client, Leases(new_owner()))
        try:
            graph.set_latency(600)  # accepted 0.6 s after the call, 0.3 s after the channel gave up
            await sender.drain(wa_id)
            graph.set_latency(0)
            [accepted] = await graph.messages_to(wa_id, 1, timeout=3)
            for _ in range(10):  # however often the sender looks, nothing is due before the status
                await asyncio.sleep(0.15)
                await sender.drain(wa_id)
            assert len(graph.sent_to(wa_id)) == 1
            [record] = [r for r in graph.requests if r.status == 200 and r.body is accepted]
            body = delivery(statuses=(status(record.response["messages"][0]["id"], "sent", wa_id,
                                             callback=accepted["biz_opaque_callback_data"]),))
            store.save_delivery(json.dumps(body).encode(), parse_delivery(body), PHONE_NUMBER_ID)
        finally:
            await client.close()
    assert store_rows("SELECT state FROM whatsapp_outbox") == [("sent",)]


def store_rows(sql: str) -> list[tuple]:
    """Return the rows of a query on the channel's database."""
    with channel_sessions()() as session:
        return [tuple(row) for row in session.execute(sql_text(sql))]


@pytest.fixture(scope="module")
def private_services() -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """PostgreSQL, Redis and nginx of this module's own (fresh data directory, free ports), so restarting
    them disturbs no other test or cluster on the machine; return (their URLs, services.sh settings)."""
    directory = SERVICES_DIR / f"{os.getpid()}"  # under var/: the postgres user must reach it
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    control = {"SERVICES_DIR": str(directory), "PG_PORT": str(free_port()),
               "REDIS_PORT": str(free_port()), "NGINX_PORT": str(free_port())}
    try:
        yield _env(services_command("start", env={**os.environ, **control}, timeout=300)), control
    finally:
        services_command("stop", env={**os.environ, **control})
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(private_services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two instances behind nginx on fresh databases, shared by the scenarios (each has its own users)."""
    services, control = private_services
    with running_cluster(services, services["DATABASE_URL"], tmp_path_factory.mktemp("cluster"), control) as running:
        yield running


def test_load_with_duplicates_graph_failures_and_a_sigkill_loses_and_repeats_nothing(cluster):
    """40 users x 4 messages, a tenth delivered twice, 30% of sends failing, one instance SIGKILLed
    mid-load: every acknowledged message is answered exactly once, in each user's order."""
    rng = random.Random(6)
    messages, deliveries = plan(40, rng)
    cluster.graph.fake.fail_rate(0.27, seed=6)  # 500, 503 and 130429; the hangs below make ~30%
    load = Load(cluster, deliveries)
    began, since = time.monotonic(), time.time()
    loader = threading.Thread(target=load.run, name="load", daemon=True)
    with Hangs(cluster, every=2.5) as hangs:
        loader.start()
        wait_for(lambda: load.progress() >= 0.4, 120)
        victim = cluster.instances[0]
        owner = f"%:{victim.service.proc.pid}:%"
        deadline = time.monotonic() + 15
        held = claims(cluster, owner)
        while sum(held) == 0 and time.monotonic() < deadline:  # kill it while it holds work
            time.sleep(0.05)
            held = claims(cluster, owner)
        victim.kill(signal.SIGKILL)
        killed_at = load.progress()
        time.sleep(1.0)
        victim.start()
        loader.join(DELIVER_WITHIN * 2)
        load.stop.set()
    settled = settle(cluster)
    counted = count(cluster, messages, load.acked)
    report(counted.line("sigkill+graph-faults", time.monotonic() - began,
                        f"{len(deliveries)} deliveries incl. {len(deliveries) - len(messages)} repeats, "
                        f"{load.failed_posts} refused posts retried, killed at {killed_at:.0%} holding "
                        f"{held[0]} turns and {held[1]} sends, {hangs.slow_accepted(cluster)} sends accepted "
                        f"after the channel's timeout, "
                        f"{graph_faults(cluster, since)}, settled in {settled:.0f}s"))
    assert counted.acked == counted.sent, "Meta's retries got a 200 for every message"
    assert (counted.duplicates, counted.lost, counted.out_of_order) == (0, 0, 0), counted.problems[:10]
    assert counted.answered == counted.sent
    assert all(instance.alive for instance in cluster.instances)


def test_postgres_and_redis_restarts_during_load_lose_and_repeat_nothing(cluster):
    """PostgreSQL and then Redis restart during load: both instances recover by themselves and every
    acknowledged message (refused with 503 meanwhile and delivered again) is answered exactly once."""
    rng = random.Random(7)
    messages, deliveries = plan(30, rng)
    cluster.graph.fake.fail_rate(0.1, seed=7)
    load = Load(cluster, deliveries)
    began, since = time.monotonic(), time.time()
    loader = threading.Thread(target=load.run, name="load", daemon=True)
    loader.start()
    try:
        wait_for(lambda: load.progress() >= 0.3, 120)
        cluster.services("restart-postgres", "3")
        wait_for(lambda: load.progress() >= 0.65, 120)
        cluster.services("restart-redis", "2")
    finally:
        loader.join(DELIVER_WITHIN * 2)
        load.stop.set()
    settled = settle(cluster)
    # Recovered without help: a new user's "hi" after both restarts is answered.
    after = next(m for m in plan(1, random.Random(8))[0] if m.index == 0)
    assert cluster.deliver(after.raw, within=30)
    wait_for(lambda: cluster.graph.sent_to(after.wa_id), 60)
    counted = count(cluster, messages, load.acked)
    report(counted.line("postgres+redis-restarts", time.monotonic() - began,
                        f"{len(deliveries)} deliveries incl. {len(deliveries) - len(messages)} repeats, "
                        f"{load.failed_posts} refused posts retried, {logged(cluster, 'whatsapp.inbound.unavailable')} "
                        f"turns put back while a service was down, {logged(cluster, 'whatsapp.pace.redis_unavailable')} "
                        f"times an instance paced alone while Redis was away, {graph_faults(cluster, since)}, "
                        f"settled in {settled:.0f}s"))
    assert cluster.graph.sent_to(after.wa_id), "a message after the restarts is answered"
    assert counted.acked == counted.sent, "Meta's retries got a 200 for every message"
    assert (counted.duplicates, counted.lost, counted.out_of_order) == (0, 0, 0), counted.problems[:10]
    assert counted.answered == counted.sent
    assert all(instance.alive for instance in cluster.instances)
