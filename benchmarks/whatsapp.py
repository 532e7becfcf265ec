"""Benchmark the WhatsApp channel next to the REST channel (not a test; prints a table).

Run: .venv/bin/python benchmarks/whatsapp.py [--quick] [--profile]

One real stack for the whole run (tests/harness.py: migrated and seeded SQLite, the action server,
`rasa run` with the same model serving both channels) and the Graph API stand-in in its own process,
all on 127.0.0.1. Every message is "hi" from a new number: a session start (one action server call),
a greeting and the main menu, i.e. two WhatsApp messages or one REST answer per turn.

  one at a time    40 turns on each channel, alternating, each sent after the last was answered:
                   what the channel adds to a turn when nothing queues.
  ack latency      2,000 signed deliveries over 10 s (200/s offered), one message each, from
                   distinct senders; time from sending the POST to reading its 200.
  reply latency    200 deliveries over 10 s (20/s); time from sending the POST to the stand-in
                   receiving the first reply message (and the last message of the turn).
  throughput       --rounds (3) rounds of 300 turns on each channel, REST then WhatsApp, offered
                   at once (REST: 16 concurrent clients; WhatsApp: all POSTed up front); turns
                   answered per second between the 10% and 90% completion marks, and the CPU time
                   `rasa run` spent per turn (from /proc). The round with the median ratio is
                   reported, with every round's ratio: the machine's speed drifts within a run.

`--statuses`: the stand-in follows every accepted send with Meta's sent, delivered and read
webhooks, each signed and POSTed on its own (six more deliveries per turn of two replies).

Targets (issue 13): ack p99 <= 25 ms at 200 msg/s, first reply p50 at 20 msg/s <= 2x the one-turn-at-a-time
p50, one turn at a time <= REST + 10 ms, WhatsApp throughput >= 0.9x REST.
`--profile` runs `rasa run` under py-spy when it is installed (benchmarks/README-profiling: not
part of requirements.lock; `pip install py-spy==0.3.14` into the venv to use it).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.harness import free_port, keep_logs, running_stack, wait_http  # noqa: E402

PHONE_NUMBER_ID = "109876543210"
WABA_ID = "102030405060"
REPLIES_PER_TURN = 2  # greeting + main menu for a new number's "hi"
# The stand-in's token travels in the environment: not visible in argv, and a token that starts
# with "-" made argparse refuse it (the stand-in exited with 2 about once in 64 runs).
TOKEN_VAR = "BENCH_GRAPH_TOKEN"
SECRET_VAR = "BENCH_APP_SECRET"
# Meta's statuses for every send, each its own webhook, with the delay before each (seconds).
STATUS_DELAYS = ((0.05, "sent"), (0.5, "delivered"), (1.5, "read"))


# --- the stand-in, in its own process -----------------------------------------------------------

def serve_graph(port: int, token: str) -> None:
    """Serve the Graph stand-in plus a compact /_bench/arrivals feed of accepted sends.

    Once told the webhook (`POST /_bench/statuses_to`) and given BENCH_APP_SECRET, every accepted
    send is followed by Meta's three status webhooks, each signed and POSTed on its own: sent,
    delivered, read.
    """
    from aiohttp import ClientError, ClientSession, web

    from connectors.whatsapp.security import signature_for
    from simulator.graph_api import make_app
    from simulator.graph_state import STATE, digits

    app = make_app(token, PHONE_NUMBER_ID)
    arrivals: list[tuple[float, str, bool]] = []  # (receive time, to, is a send)
    secret = os.environ.get(SECRET_VAR)
    webhook: list[str] = []  # set by the benchmark once Rasa runs
    pending: set[asyncio.Task] = set()
    statuses_failed = [0]
    sessions: list[ClientSession] = []  # one, made on the stand-in's loop: kept-alive connections

    async def play_statuses(wamid: str, to: str, callback: Optional[str]) -> None:
        if not sessions:
            sessions.append(ClientSession())
        for delay, state in STATUS_DELAYS:
            await asyncio.sleep(delay)
            item = {"id": wamid, "status": state, "timestamp": str(int(time.time())), "recipient_id": to}
            if callback:
                item["biz_opaque_callback_data"] = callback
            raw = status_bytes(item)
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature_for(secret, raw)}
            try:
                async with sessions[0].post(webhook[0], data=raw, headers=headers) as answer:
                    statuses_failed[0] += answer.status != 200
            except (ClientError, asyncio.TimeoutError):
                statuses_failed[0] += 1

    def listen(record: Any) -> None:
        body = record.body if isinstance(record.body, dict) else {}
        is_send = "status" not in body
        arrivals.append((record.time, digits(body.get("to") or ""), is_send))
        if webhook and secret and is_send and isinstance(record.response, dict):
            wamid = record.response["messages"][0]["id"]
            task = asyncio.get_running_loop().create_task(
                play_statuses(wamid, digits(body.get("to") or ""), body.get("biz_opaque_callback_data")))
            pending.add(task)
            task.add_done_callback(pending.discard)

    app[STATE].listeners.append(listen)
    app[STATE].records = _Forgetful()  # the run makes ~20k calls: keep none of them

    async def feed(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response({"arrivals": arrivals[since:], "statuses_failed": statuses_failed[0]})

    async def statuses_to(request: web.Request) -> web.Response:
        webhook[:] = [(await request.json())["webhook"]]
        return web.json_response({"ok": True})

    app.router.add_get("/_bench/arrivals", feed)
    app.router.add_post("/_bench/statuses_to", statuses_to)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class _Forgetful(list):
    """A records list that keeps nothing (the feed above keeps what the benchmark needs)."""

    def append(self, _item: Any) -> None:  # noqa: D102
        pass


# --- helpers -----------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """Return the q-th percentile (inclusive method) of values, or nan when empty."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def delivery_bytes(wa_id: str, n: int, text: str = "hi") -> bytes:
    """Return one webhook body carrying a text from wa_id."""
    now = str(int(time.time()))
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001234", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Bench User"}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": f"wamid.bench{n}{secrets.token_hex(8)}", "timestamp": now,
                      "type": "text", "text": {"body": text}}],
    }
    body = {"object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}]}
    return json.dumps(body).encode()


def status_bytes(item: dict[str, Any]) -> bytes:
    """Return one webhook body carrying one status of a message we sent."""
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550001234", "phone_number_id": PHONE_NUMBER_ID},
             "statuses": [item]}
    body = {"object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}]}
    return json.dumps(body).encode()


def senders(prefix: str, count: int) -> list[str]:
    """Return count distinct unregistered numbers."""
    return [f"91{prefix}{n:06d}" for n in range(count)]


def machine_busy_seconds() -> float:
    """Return the CPU time all CPUs of the machine have spent busy so far (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, thread: Optional[int] = None) -> float:
    """Return the CPU time (user + system) process pid, or only its thread, has used so far."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Bench:
    """The running pieces and how to reach them."""

    rasa_url: str
    graph_url: str
    app_secret: str
    http: aiohttp.ClientSession
    rasa_pid: int = 0
    seen: int = 0  # arrivals already read
    first: dict = None  # type: ignore[assignment]  # wa_id -> first reply time
    last: dict = None  # type: ignore[assignment]  # wa_id -> (count, last reply time)
    reads: int = 0
    statuses_failed: int = 0  # status webhooks the stand-in posted that were not answered 200
    pids: dict = None  # type: ignore[assignment]  # name -> pid of every process on the machine's CPUs

    def __post_init__(self) -> None:
        self.first, self.last = {}, {}
        self.pids = self.pids or {"rasa": self.rasa_pid}

    def cpu(self) -> dict[str, float]:
        """Return the CPU seconds used so far by each of our processes and by the whole machine."""
        return {**{name: cpu_seconds(pid) for name, pid in self.pids.items()}, "machine": machine_busy_seconds()}

    @staticmethod
    def per_turn(before: dict[str, float], after: dict[str, float], turns: int) -> dict[str, float]:
        """Return the CPU ms per turn of each process (and the machine) between two cpu() readings."""
        return {name: (after[name] - before[name]) * 1000 / max(turns, 1) for name in before}

    @property
    def webhook(self) -> str:
        return f"{self.rasa_url}/webhooks/whatsapp/webhook"

    def signed(self, raw: bytes) -> dict[str, str]:
        from connectors.whatsapp.security import signature_for

        return {"Content-Type": "application/json", "X-Hub-Signature-256": signature_for(self.app_secret, raw)}

    async def post(self, raw: bytes, headers: dict[str, str]) -> tuple[float, float, int]:
        """POST one delivery; return (sent at, seconds to the answer, HTTP status)."""
        sent = time.time()
        start = time.perf_counter()
        async with self.http.post(self.webhook, data=raw, headers=headers) as response:
            await response.read()
            return sent, time.perf_counter() - start, response.status

    async def poll(self) -> None:
        """Read new arrivals at the stand-in into first/last per recipient."""
        async with self.http.get(f"{self.graph_url}/_bench/arrivals", params={"since": str(self.seen)}) as r:
            feed = await r.json()
        arrivals, self.statuses_failed = feed["arrivals"], feed["statuses_failed"]
        self.seen += len(arrivals)
        for at, to, is_send in arrivals:
            if not is_send:
                self.reads += 1
                continue
            self.first.setdefault(to, at)
            count, _ = self.last.get(to, (0, 0.0))
            self.last[to] = (count + 1, at)

    async def wait_turns(self, wa_ids: list[str], timeout: float) -> int:
        """Wait until every wa_id got a whole turn (or timeout); return how many did."""
        deadline = time.monotonic() + timeout
        while True:
            await self.poll()
            done = sum(self.last.get(w, (0, 0))[0] >= REPLIES_PER_TURN for w in wa_ids)
            if done == len(wa_ids) or time.monotonic() > deadline:
                return done
            await asyncio.sleep(0.2)

    async def rest(self, sender: str, text: str = "hi") -> float:
        """Send one REST turn; return when it was answered (time.time())."""
        async with self.http.post(f"{self.rasa_url}/webhooks/rest/webhook",
                                  json={"sender": sender, "message": text}) as response:
            replies = await response.json()
            assert response.status == 200 and replies, (response.status, replies)
        return time.time()


async def offer(bench: Bench, bodies: list[bytes], rate: float) -> list[tuple[float, float, int]]:
    """POST the bodies at a steady rate (each on schedule, not after the previous answer)."""
    signed = [(raw, bench.signed(raw)) for raw in bodies]
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []
    for n, (raw, headers) in enumerate(signed):
        delay = start + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(bench.post(raw, headers)))
    return list(await asyncio.gather(*tasks))


def steady_rate(done_times: list[float]) -> float:
    """Return completions per second between the 10% and 90% marks."""
    times = sorted(done_times)
    lo, hi = int(len(times) * 0.1), int(len(times) * 0.9) - 1
    if hi <= lo or times[hi] <= times[lo]:
        return float("nan")
    return (hi - lo) / (times[hi] - times[lo])


# --- phases ------------------------------------------------------------------------------------

async def warm_up(bench: Bench) -> None:
    """Load the model's code paths, the action server and both channels once."""
    users = senders("5000", 20)
    for n, user in enumerate(users):
        raw = delivery_bytes(user, n)
        await bench.post(raw, bench.signed(raw))
        await bench.rest("91" + "6000" + f"{n:06d}")
    await bench.wait_turns(users, 60)


async def reply_latency(bench: Bench, count: int, rate: float) -> dict[str, Any]:
    """Offer count messages at rate; return first-reply and whole-turn latencies in ms."""
    users = senders("7100", count)
    posts = await offer(bench, [delivery_bytes(u, n) for n, u in enumerate(users)], rate)
    answered = await bench.wait_turns(users, 120)
    first = [(bench.first[u] - sent) * 1000 for u, (sent, _, _) in zip(users, posts) if u in bench.first]
    whole = [(bench.last[u][1] - sent) * 1000 for u, (sent, _, _) in zip(users, posts)
             if bench.last.get(u, (0, 0))[0] >= REPLIES_PER_TURN]
    return {"first": first, "whole": whole, "answered": answered, "count": count,
            "ack": [seconds * 1000 for _, seconds, _ in posts]}


async def ack_latency(bench: Bench, count: int, rate: float, drain_timeout: float) -> dict[str, Any]:
    """Offer count messages at rate; return ack latencies (ms), statuses and the drain figures."""
    users = senders("7200", count)
    bodies = [delivery_bytes(u, n) for n, u in enumerate(users)]
    started = time.time()
    posts = await offer(bench, bodies, rate)
    offered_for = time.time() - started
    answered = await bench.wait_turns(users, drain_timeout)
    done = [bench.last[u][1] for u in users if bench.last.get(u, (0, 0))[0] >= REPLIES_PER_TURN]
    return {"ack": [seconds * 1000 for _, seconds, _ in posts], "statuses": [s for _, _, s in posts],
            "offered_for": offered_for, "answered": answered, "count": count,
            "drained_in": (max(done) - started) if done else float("nan"), "rate": steady_rate(done)}


async def one_at_a_time(bench: Bench, count: int) -> dict[str, list[float]]:
    """Send count turns one after another on each channel (alternating); return latencies in ms.

    Nothing queues, so the difference between the channels is what the channel itself adds.
    """
    users = senders("7500", count)
    wa_first, wa_whole, rest = [], [], []
    for n, user in enumerate(users):
        raw = delivery_bytes(user, n)
        sent, _, _ = await bench.post(raw, bench.signed(raw))
        await bench.wait_turns([user], 30)
        if bench.last.get(user, (0, 0))[0] >= REPLIES_PER_TURN:
            wa_first.append((bench.first[user] - sent) * 1000)
            wa_whole.append((bench.last[user][1] - sent) * 1000)
        started = time.time()
        rest.append((await bench.rest("91" + "7600" + f"{n:06d}") - started) * 1000)
    return {"first": wa_first, "whole": wa_whole, "rest": rest}


async def rest_throughput(bench: Bench, count: int, clients: int, prefix: str = "7300") -> tuple[float, dict]:
    """Answer count REST turns with clients concurrent callers; return the steady turns/s and the
    CPU ms per turn by process."""
    queue = senders(prefix, count)
    done: list[float] = []

    async def client() -> None:
        while queue:
            done.append(await bench.rest(queue.pop()))

    cpu = bench.cpu()
    await asyncio.gather(*(client() for _ in range(clients)))
    return steady_rate(done), bench.per_turn(cpu, bench.cpu(), count)


async def whatsapp_throughput(bench: Bench, count: int, timeout: float,
                              prefix: str = "7400") -> tuple[float, int, dict]:
    """Offer count WhatsApp turns at once; return the steady turns/s, how many were answered and
    the CPU ms per turn by process."""
    cpu = bench.cpu()
    users = senders(prefix, count)
    bodies = [delivery_bytes(u, n) for n, u in enumerate(users)]
    semaphore = asyncio.Semaphore(16)

    async def post(raw: bytes) -> None:
        async with semaphore:
            _, _, status = await bench.post(raw, bench.signed(raw))
            assert status == 200, status

    await asyncio.gather(*(post(raw) for raw in bodies))
    answered = await bench.wait_turns(users, timeout)
    cpu = bench.per_turn(cpu, bench.cpu(), answered)
    done = [bench.last[u][1] for u in users if bench.last.get(u, (0, 0))[0] >= REPLIES_PER_TURN]
    return steady_rate(done), answered, cpu


async def idle(bench: Bench, seconds: float = 2.0) -> None:
    """Let the stack settle between phases."""
    await asyncio.sleep(seconds)
    await bench.poll()


# --- main --------------------------------------------------------------------------------------

def cpu_busy_share(seconds: float = 1.0) -> float:
    """Return the share of all CPUs busy over a short window (from /proc/stat)."""
    def snap() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]

    total0, idle0 = snap()
    time.sleep(seconds)
    total1, idle1 = snap()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


async def run(args: argparse.Namespace, rasa_url: str, graph_url: str, app_secret: str, pids: dict[str, int]) -> list[str]:
    """Run every phase and return the table lines."""
    scale = 0.25 if args.quick else 1.0
    connector = aiohttp.TCPConnector(limit=64, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        bench = Bench(rasa_url, graph_url, app_secret, http, pids["rasa"], pids={**pids, "load generator": os.getpid()})
        if args.statuses:
            async with http.post(f"{graph_url}/_bench/statuses_to", json={"webhook": bench.webhook}) as told:
                assert told.status == 200, told.status
        await warm_up(bench)
        await idle(bench)
        nothing: dict[str, Any] = {"first": [], "whole": [], "ack": [], "answered": 0, "count": 0,
                                   "statuses": [], "offered_for": 0.0, "drained_in": float("nan"),
                                   "rate": float("nan")}
        e2e, ack, rest, wa, wa_answered = dict(nothing), dict(nothing), float("nan"), float("nan"), 0
        rest_cpu: dict[str, float] = {}
        wa_cpu: dict[str, float] = {}
        serial: dict[str, list[float]] = {"first": [], "whole": [], "rest": []}
        if "serial" in args.phases:
            serial = await one_at_a_time(bench, int(40 * scale))
            await idle(bench)
        if "e2e" in args.phases:
            e2e = await reply_latency(bench, int(200 * scale), 20.0)
            await idle(bench)
        rounds: list[tuple[float, dict, float, dict, int]] = []  # (REST/s, REST CPU, WA/s, WA CPU, answered)
        if "throughput" in args.phases:
            # Rounds of REST then WhatsApp: a shared machine's speed drifts over a minute, so each
            # round compares the channels over the same few seconds, and the median round is reported.
            per_round = int(900 * scale) // args.rounds
            for n in range(args.rounds):
                rest_round = await rest_throughput(bench, per_round, 16, f"73{n:02d}")
                await idle(bench)
                wa_round = await whatsapp_throughput(bench, per_round, 300, f"74{n:02d}")
                await idle(bench)
                rounds.append((*rest_round, wa_round[0], wa_round[2], wa_round[1]))
            middle = sorted(rounds, key=lambda r: r[2] / r[0])[len(rounds) // 2]
            rest, rest_cpu, wa, wa_cpu, wa_answered = middle
        if "ack" in args.phases:
            ack = await ack_latency(bench, int(2000 * scale), 200.0, 600)
        reads, statuses_failed = bench.reads, bench.statuses_failed
    lines = [
        "| figure | measured | target |",
        "|---|---|---|",
        f"| webhook ack latency at 200 msg/s offered ({ack['count']} deliveries in {ack['offered_for']:.1f} s) "
        f"| p50 {pct(ack['ack'], 50):.1f} ms, p99 {pct(ack['ack'], 99):.1f} ms, max {max(ack['ack'] or [0]):.0f} ms "
        f"| p99 <= 25 ms |",
        f"| non-200 answers in that run | {sum(s != 200 for s in ack['statuses'])} | 0 |",
        f"| end-to-end first reply at 20 msg/s ({e2e['count']} turns, {e2e['answered']} answered) "
        f"| p50 {pct(e2e['first'], 50):.1f} ms, p99 {pct(e2e['first'], 99):.1f} ms "
        f"| p50 <= {2 * pct(serial['first'], 50):.1f} ms (2x one turn at a time) |",
        f"| end-to-end whole turn (2nd message) at 20 msg/s | p50 {pct(e2e['whole'], 50):.1f} ms, "
        f"p99 {pct(e2e['whole'], 99):.1f} ms | - |",
        f"| one turn at a time ({len(serial['rest'])} each): WhatsApp first reply "
        f"| p50 {pct(serial['first'], 50):.1f} ms, p99 {pct(serial['first'], 99):.1f} ms "
        f"| p50 <= {pct(serial['rest'], 50) + 10:.1f} ms (REST + 10 ms) |",
        f"| one turn at a time: REST answer (same model, same turn) "
        f"| p50 {pct(serial['rest'], 50):.1f} ms, p99 {pct(serial['rest'], 99):.1f} ms | - |",
        f"| ack latency at 20 msg/s | p50 {pct(e2e['ack'], 50):.1f} ms, p99 {pct(e2e['ack'], 99):.1f} ms | - |",
        f"| sustained throughput, REST channel (16 clients; the median of {len(rounds)} rounds) "
        f"| {rest:.1f} turns/s | - |",
        f"| sustained throughput, WhatsApp channel (same round, {wa_answered} turns) | {wa:.1f} turns/s "
        f"({2 * wa:.1f} messages/s) | - |",
        f"| WhatsApp / REST (that round; every round: {', '.join(f'{r[2] / r[0]:.2f}' for r in rounds)}) "
        f"| {wa / rest:.2f}x | >= 0.9x |",
        f"| CPU of `rasa run` per turn in that round: REST, WhatsApp | {rest_cpu.get('rasa', math.nan):.1f} ms, "
        f"{wa_cpu.get('rasa', math.nan):.1f} ms | - |",
        f"| CPU per turn of every process in that round (REST / WhatsApp) | "
        + ", ".join(f"{name} {rest_cpu[name]:.1f} / {wa_cpu[name]:.1f} ms" for name in rest_cpu) + " | - |",
        f"| backlog of the 200 msg/s run answered ({ack['answered']}/{ack['count']}) "
        f"| all in {ack['drained_in']:.1f} s, steady {ack['rate']:.1f} turns/s | - |",
        f"| mark-as-read calls seen by the stand-in | {reads} | - |",
        f"| status webhooks (sent, delivered, read per reply) | "
        f"{'on, ' + str(statuses_failed) + ' not answered 200' if args.statuses else 'off'} | - |",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a quarter of the counts (a smoke run)")
    parser.add_argument("--profile", action="store_true", help="record `rasa run` with py-spy if installed")
    parser.add_argument("--keep-logs", type=Path, help="copy the services' logs here")
    parser.add_argument("--statuses", action="store_true",
                        help="the stand-in posts Meta's sent, delivered and read webhooks for every reply")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (REST then WhatsApp each)")
    parser.add_argument("--phases", default="serial,e2e,throughput,ack",
                        help="comma-separated subset of serial,e2e,throughput,ack (default: all)")
    parser.add_argument("--serve-graph", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_graph:
        serve_graph(args.serve_graph, os.environ[TOKEN_VAR])
        return

    token, app_secret, verify = (secrets.token_urlsafe(24) for _ in range(3))
    graph_port = free_port()
    graph_url = f"http://127.0.0.1:{graph_port}"
    load_before = os.getloadavg()
    busy_before = cpu_busy_share()
    with tempfile.TemporaryDirectory(prefix="bench-whatsapp-") as tmp:
        workdir = Path(tmp)
        graph_log = open(workdir / "graph.log", "wb")
        graph = subprocess.Popen([sys.executable, __file__, "--serve-graph", str(graph_port)], cwd=ROOT,
                                 env={**os.environ, TOKEN_VAR: token, SECRET_VAR: app_secret}, stdout=graph_log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"{graph_url}/_bench/arrivals", proc=graph)
            credentials = workdir / "credentials.yml"
            credentials.write_text("connectors.whatsapp.WhatsAppInput:\nrest:\n")
            env = {
                "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID,
                "WHATSAPP_API_TOKEN": token, "WHATSAPP_APP_SECRET": app_secret,
                "WHATSAPP_WEBHOOK_VERIFY_TOKEN": verify, "WHATSAPP_GRAPH_API_URL": graph_url,
                "WHATSAPP_MEDIA_DIR": str(workdir / "media"), "WHATSAPP_MAX_MPS": "1000",
            }
            env.update({k: v for k, v in os.environ.items() if k in ("WHATSAPP_TURN_CONCURRENCY", "WHATSAPP_TURNS_IN_THREAD")})
            with running_stack(workdir / "stack", credentials=credentials, extra_env=env) as stack:
                spy = _start_profiler(args, stack.services["rasa"].proc.pid, workdir)
                try:
                    pids = {"rasa": stack.services["rasa"].proc.pid, "action server": stack.services["actions"].proc.pid,
                            "stand-in": graph.pid}
                    lines = asyncio.run(run(args, stack.rasa_url, graph_url, app_secret, pids))
                finally:
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        spy.wait(60)
                        shutil.copy(workdir / "rasa-profile.txt", ROOT / "var" / "rasa-profile.txt")
                    if args.keep_logs:
                        keep_logs(workdir / "stack", args.keep_logs)
        finally:
            graph.terminate()
            graph.wait(10)
            graph_log.close()
    load_after = os.getloadavg()
    print("\n".join(lines))
    print(f"\nmachine: {os.cpu_count()} CPUs shared with other work; load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f}; CPUs busy just before the run "
          f"{busy_before:.0%}. Rasa, the action server, the stand-in and this load generator all run "
          f"on those CPUs.")


def _start_profiler(args: argparse.Namespace, pid: int, workdir: Path) -> Optional[subprocess.Popen]:
    """Start py-spy on pid (raw collapsed stacks of the thread holding the GIL) when asked and available."""
    if not args.profile:
        return None
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("py-spy is not installed; running without a profile", file=sys.stderr)
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "100", "--threads", "--gil",
                             "--output", str(workdir / "rasa-profile.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
