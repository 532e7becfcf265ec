"""Benchmark the production configuration with 1, 2 and 4 `rasa run` processes (not a test; prints tables).

Run: .venv/bin/python benchmarks/cluster.py [--messages 1000,10000] [--processes 1,2,4] [--time-limit 3600]
     .venv/bin/python benchmarks/cluster.py --quick      (200 messages, 1 and 2 processes: a few minutes)
     add --statuses for Meta's status webhooks after every send (as benchmarks/whatsapp.py --statuses)

Each run (processes x messages) starts the production configuration afresh with
scripts/run_cluster.sh: the action server and RASA_PORTS `rasa run` processes with the PostgreSQL
tracker store, the Redis lock store and the PostgreSQL business/channel database, behind nginx.
PostgreSQL, Redis and nginx are this benchmark's own (scripts/services.sh with SERVICES_DIR
var/bench-services and free ports), started once and stopped at the end. The channel's Graph API
is the stand-in of benchmarks/whatsapp.py in its own process (its /_bench/arrivals feed says when
each reply arrived); secrets are fresh and travel in the environment. Everything listens on
127.0.0.1. Before each run the channel's tables and the tracker store are emptied and
run_cluster.sh re-seeds the business data, so every run starts from the same state. Every sender
is a new unregistered number saying "hi" (a session start, a greeting and the main menu: two
WhatsApp messages per turn).

  ack        signed deliveries POSTed to nginx at a fixed rate (--rate, 200/s), one message each;
             time from sending the POST to reading its 200
  reply      first reply per message: time from sending the POST to the stand-in receiving the
             turn's first message. With more offered than the processes answer, this is mostly
             time in the queue, so it grows with the number of messages
  turns/s    turns answered (second message at the stand-in) per second between the 10% and 90%
             completion marks
  answered   turns answered / offered when the backlog drained, nothing was answered for --stall
             seconds, or the time limit came; reply percentiles are over every message offered, so
             one that falls on an unanswered message shows as "> the time the run waited"
  duplicates messages at the stand-in beyond the two a turn has, summed over the run's senders
  non-200    acks that were not 200 (0: no answer within 120 s or the connection failed)
  statuses   with --statuses, the stand-in follows every accepted send with Meta's sent, delivered
             and read webhooks, each signed and POSTed to nginx on its own (six more deliveries per
             turn); the table counts those not answered 200. They share the processes with the turns,
             as Meta's do.

Runs go by message count, then by processes (1,000 x 1, 2, 4, then 10,000 x 1, 2, 4), so a time
limit cuts the largest runs. --time-limit bounds the whole benchmark: no run starts with less than
--min-run seconds left, and a run's drain stops at the limit. The runs share the machine's CPUs
with PostgreSQL, Redis, nginx, the action server, the stand-in and this load generator.
Logs: var/cluster/ (run_cluster.sh) and var/cluster/bench-*.log (this script).
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from benchmarks.whatsapp import (PHONE_NUMBER_ID, REPLIES_PER_TURN, SECRET_VAR, TOKEN_VAR, WABA_ID, Bench,  # noqa: E402
                                 cpu_busy_share, delivery_bytes, offer, pct, senders, serve_graph,
                                 steady_rate)
from tests.harness import free_port, wait_http  # noqa: E402

LOGS = ROOT / "var" / "cluster"
SERVICES = ROOT / "scripts" / "services.sh"
SERVICES_DIR = ROOT / "var" / "bench-services"
RUN_CLUSTER = ROOT / "scripts" / "run_cluster.sh"


@dataclass(frozen=True)
class Cluster:
    """One running production configuration and the secrets it was started with."""

    nginx_url: str
    graph_url: str
    app_secret: str
    rasa_ports: tuple[int, ...]


class ClusterBench(Bench):
    """Bench whose POSTs never raise: an unanswered or failed POST counts as status 0."""

    async def post(self, raw: bytes, headers: dict[str, str]) -> tuple[float, float, int]:
        sent, start = time.time(), time.perf_counter()
        try:
            return await super().post(raw, headers)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return sent, time.perf_counter() - start, 0


# --- services and the cluster, driven through the project's scripts ----------------------------------

def start_services(env: dict[str, str]) -> dict[str, str]:
    """Start (or reconfigure) the services for env's RASA_PORTS; return the URLs they print."""
    out = subprocess.run(["bash", str(SERVICES), "start"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"scripts/services.sh start failed:\n{out.stderr[-2000:]}")
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def stop_services(env: dict[str, str]) -> None:
    """Stop this benchmark's PostgreSQL, Redis and nginx."""
    subprocess.run(["bash", str(SERVICES), "stop"], cwd=ROOT, env=env, capture_output=True, timeout=120)


def empty_stores(urls: dict[str, str]) -> None:
    """Empty the channel's tables, notifications, handoffs and the tracker store (seeding does the rest)."""
    from sqlalchemy import create_engine, inspect, text

    from connectors.management.tables import metadata as management
    from connectors.whatsapp.tables import metadata as channel

    wanted = {t.name for t in channel.sorted_tables} | {t.name for t in management.sorted_tables} | {"handoffs"}
    for url, names in ((urls["DATABASE_URL"], wanted), (urls["TRACKER_DB_URL"], {"events"})):
        engine = create_engine(url, future=True)
        try:
            present = sorted(names & set(inspect(engine).get_table_names()))
            if present:
                with engine.begin() as connection:
                    connection.execute(text("SET LOCAL lock_timeout = '15s'"))
                    connection.execute(text(f"TRUNCATE {', '.join(present)} RESTART IDENTITY CASCADE"))
        finally:
            engine.dispose()


def start_graph(port: int, token: str, app_secret: str, log: Path) -> subprocess.Popen:
    """Start the Graph stand-in of benchmarks/whatsapp.py in its own process (it signs statuses with app_secret)."""
    env = {**os.environ, TOKEN_VAR: token, SECRET_VAR: app_secret}
    with open(log, "wb") as out:
        graph = subprocess.Popen([sys.executable, __file__, "--serve-graph", str(port)], cwd=ROOT, env=env,
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/_bench/arrivals", timeout=60, proc=graph)
    except BaseException:
        stop_process(graph, grace=10)
        raise
    return graph


def start_cluster(env: dict[str, str], log: Path, timeout: float) -> subprocess.Popen:
    """Run scripts/run_cluster.sh (serve mode) and wait for its "Ready." line."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", str(RUN_CLUSTER)], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while b"Ready." not in log.read_bytes():
            if proc.poll() is not None:
                raise RuntimeError(f"run_cluster.sh exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not come up in {timeout:.0f} s; see {log}")
            time.sleep(0.5)
    except BaseException:  # also Ctrl-C: never leave a half-started cluster behind
        stop_process(proc)
        raise
    return proc


def stop_process(proc: Optional[subprocess.Popen], grace: float = 60.0) -> None:
    """SIGTERM the process (run_cluster.sh's trap stops its children); SIGKILL its group after grace."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


# --- one measured run --------------------------------------------------------------------------------

async def drain(bench: Bench, users: list[str], timeout: float, stall: float) -> tuple[int, str]:
    """Wait until every user got a whole turn, nothing new for stall seconds, or timeout.

    Return how many users got a whole turn and why the wait ended ("drained", "stalled", "time limit").
    """
    start = time.monotonic()
    best, progressed, reported = -1, start, start
    while True:
        await bench.poll()
        done = sum(bench.last.get(u, (0, 0))[0] >= REPLIES_PER_TURN for u in users)
        now = time.monotonic()
        if done > best:
            best, progressed = done, now
        if now - reported >= 15:
            print(f"  answered {done}/{len(users)}", file=sys.stderr, flush=True)
            reported = now
        if done == len(users):
            return done, "drained"
        if now - progressed > stall:
            return done, "stalled"
        if now - start > timeout:
            return done, "time limit"
        await asyncio.sleep(0.5)


def upstream_counts(access_log: Path, offset: int) -> dict[str, int]:
    """Count webhook POSTs per upstream in nginx's access log from offset on."""
    counts: dict[str, int] = {}
    if not access_log.exists():
        return counts
    with open(access_log, "rb") as log:
        log.seek(offset)
        for line in log.read().decode(errors="replace").splitlines():
            if "POST /webhooks/whatsapp/webhook" in line and "upstream=" in line:
                upstream = line.split("upstream=", 1)[1].split(" ", 1)[0].rstrip(",")
                counts[upstream] = counts.get(upstream, 0) + 1
    return counts


async def measure(cluster: Cluster, count: int, prefix: str, args: argparse.Namespace, access_log: Path,
                  deadline: float) -> dict[str, Any]:
    """Warm up, offer count deliveries through nginx at args.rate, drain until deadline; return the figures."""
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        bench = ClusterBench(cluster.nginx_url, cluster.graph_url, cluster.app_secret, http)
        if args.statuses:
            async with http.post(f"{cluster.graph_url}/_bench/statuses_to", json={"webhook": bench.webhook}) as told:
                if told.status != 200:
                    raise RuntimeError(f"the stand-in refused the status webhook's address: {told.status}")
        warm = senders("9" + prefix, 10 * len(cluster.rasa_ports))  # nginx spreads them over every process
        for n, user in enumerate(warm):
            raw = delivery_bytes(user, n)
            await bench.post(raw, bench.signed(raw))
        if await bench.wait_turns(warm, 120) < len(warm):
            raise RuntimeError("warm-up turns were not answered; see var/cluster/*.log")
        await asyncio.sleep(1.0)

        users = senders("8" + prefix, count)
        bodies = [delivery_bytes(u, n) for n, u in enumerate(users)]
        log_offset = access_log.stat().st_size if access_log.exists() else 0
        started = time.time()
        posts = await offer(bench, bodies, args.rate)
        offered_for = time.time() - started
        drain_timeout = min(args.drain_timeout, deadline - time.monotonic())
        answered, ended = await drain(bench, users, max(drain_timeout, 0.0), args.stall)
        waited = time.time() - started
        await asyncio.sleep(2.0)  # a late duplicate would arrive now
        await bench.poll()

    done = [bench.last[u][1] for u in users if bench.last.get(u, (0, 0))[0] >= REPLIES_PER_TURN]
    return {
        "ack": [seconds * 1000 for _, seconds, _ in posts],
        "non_200": sum(status != 200 for _, _, status in posts),
        "reply": [(bench.first[u] - sent) * 1000 for u, (sent, _, _) in zip(users, posts) if u in bench.first],
        "rate": steady_rate(done),
        "answered": answered,
        "ended": ended,
        "count": count,
        "duplicates": sum(max(0, bench.last.get(u, (0, 0))[0] - REPLIES_PER_TURN) for u in users),
        "offered_for": offered_for,
        "waited": waited,
        "drained_in": (max(done) - started) if done else float("nan"),
        "upstreams": upstream_counts(access_log, log_offset),
        "statuses_failed": bench.statuses_failed if args.statuses else None,
    }


def run_once(processes: int, count: int, index: int, args: argparse.Namespace, base_env: dict[str, str],
             urls: dict[str, str], deadline: float) -> dict:
    """Start a fresh cluster with `processes` `rasa run`s, measure count messages, stop it."""
    rasa_ports = tuple(free_port() for _ in range(processes))
    graph_port = free_port()
    token, app_secret, verify = (secrets.token_hex(24) for _ in range(3))
    env = {**base_env, "RASA_PORTS": " ".join(map(str, rasa_ports)), "KEEP_SERVICES": "1",
           "ACTION_PORT": str(free_port()), "SIM_PORT": str(free_port())}
    env.pop("KEEP_DATA", None)  # run_cluster.sh re-seeds the business data
    env.update({
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID,
        "WHATSAPP_API_TOKEN": token, "WHATSAPP_APP_SECRET": app_secret, "WHATSAPP_WEBHOOK_VERIFY_TOKEN": verify,
        "WHATSAPP_GRAPH_API_URL": f"http://127.0.0.1:{graph_port}", "WHATSAPP_MAX_MPS": str(args.max_mps),
    })
    tag = f"{processes}x{count}"
    print(f"run {tag}: starting (rasa {' '.join(map(str, rasa_ports))})", file=sys.stderr, flush=True)
    began = time.monotonic()
    empty_stores(urls)
    graph = cluster = None
    try:
        graph = start_graph(graph_port, token, app_secret, LOGS / f"bench-graph-{tag}.log")
        # run_cluster.sh calls services.sh start, which points nginx at this run's RASA_PORTS
        cluster = start_cluster(env, LOGS / f"bench-cluster-{tag}.log",
                                min(args.start_timeout, max(deadline - time.monotonic(), 1.0)))
        up_in = time.monotonic() - began
        print(f"run {tag}: up in {up_in:.0f} s; offering {count} at {args.rate:g}/s", file=sys.stderr, flush=True)
        figures = asyncio.run(measure(
            Cluster(f"http://127.0.0.1:{env['NGINX_PORT']}", f"http://127.0.0.1:{graph_port}", app_secret,
                    rasa_ports),
            count, f"{processes}{index:02d}", args, SERVICES_DIR / "nginx" / "access.log", deadline))
    finally:
        stop_process(cluster)
        stop_process(graph, grace=10)
    figures.update(processes=processes, rasa_ports=rasa_ports, up_in=up_in, took=time.monotonic() - began)
    print(f"run {tag}: {figures['ended']}, {figures['answered']}/{count} answered, done in {figures['took']:.0f} s",
          file=sys.stderr, flush=True)
    return figures


# --- output ------------------------------------------------------------------------------------------

def table(results: list[dict]) -> list[str]:
    """Return the per-run table, the turns/s by processes and the latency growth lines."""
    lines = ["| processes | messages | turns/s | reply p50 | reply p99 | ack p50 | ack p99 | answered | duplicates "
             "| non-200 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        cut = "" if r["ended"] == "drained" else f" ({r['ended']})"
        lines.append(
            f"| {r['processes']} | {r['count']:,} | {r['rate']:.1f} | {reply(r, 50)} "
            f"| {reply(r, 99)} | {pct(r['ack'], 50):.1f} ms | {pct(r['ack'], 99):.1f} ms "
            f"| {r['answered']:,}/{r['count']:,}{cut} | {r['duplicates']} | {r['non_200']} |")
    lines.append("")
    by = {(r["processes"], r["count"]): r for r in results}
    counts = sorted({r["count"] for r in results})
    processes = sorted({r["processes"] for r in results})
    for count in counts:
        row = [(n, by[n, count]["rate"]) for n in processes if (n, count) in by]
        base = dict(row).get(1)
        parts = [f"{n}: {rate:.1f}" + (f" (x{ratio(rate, base)})" if base and n != 1 else "") for n, rate in row]
        lines.append(f"- turns/s by processes at {count:,} messages: {', '.join(parts)}")
    for n in processes:
        have = [c for c in counts if (n, c) in by]
        if len(have) > 1:
            a, b = by[n, have[0]], by[n, have[-1]]
            lines.append(f"- reply latency, {n} process(es), {have[0]:,} -> {have[-1]:,} messages: "
                         f"p50 {reply(a, 50)} -> {reply(b, 50)} (x{ratio(reply_pct(b, 50), reply_pct(a, 50))}), "
                         f"p99 {reply(a, 99)} -> {reply(b, 99)} (x{ratio(reply_pct(b, 99), reply_pct(a, 99))})")
    for r in results:
        split = ", ".join(f"{n} to {u}" for u, n in sorted(r["upstreams"].items())) or "no access log"
        statuses = ("" if r["statuses_failed"] is None
                    else f"; status webhooks not answered 200: {r['statuses_failed']}")
        lines.append(f"- {r['processes']} x {r['count']:,}: offered in {r['offered_for']:.1f} s, last turn "
                     f"answered {r['drained_in']:.1f} s after the first POST; nginx sent {split}; cluster up in "
                     f"{r['up_in']:.0f} s, run took {r['took']:.0f} s{statuses}")
    return lines


def reply_pct(run: dict, q: float) -> float:
    """Return the q-th percentile (nearest rank) of first-reply latency over every message offered.

    A message without a reply counts as slower than all the others (inf when the rank falls on one).
    """
    values = sorted(run["reply"])
    rank = max(1, math.ceil(q / 100 * run["count"]))
    return values[rank - 1] if rank <= len(values) else math.inf


def reply(run: dict, q: float) -> str:
    """Format reply_pct; a rank that no reply reached shows as more than the time the run waited."""
    value = reply_pct(run, q)
    return ms(value) if value < math.inf else f"> {run['waited']:.0f} s"


def ms(value: float) -> str:
    """Format milliseconds, as seconds once they get large."""
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:.0f} ms"


def ratio(a: float, b: float) -> str:
    """Format a / b ("n/a" when either is unknown or unbounded)."""
    return f"{a / b:.2f}" if b and math.isfinite(a) and math.isfinite(b) else "n/a"


# --- main --------------------------------------------------------------------------------------------

def numbers(text: str) -> list[int]:
    """Parse a comma-separated list of positive integers ("1,2,4")."""
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 messages with 1 and 2 processes (a smoke run)")
    parser.add_argument("--messages", type=numbers, help="comma-separated messages offered per run "
                                                         "(default 1000,10000; --quick 200)")
    parser.add_argument("--processes", type=numbers, help="comma-separated `rasa run` counts "
                                                          "(default 1,2,4; --quick 1,2)")
    parser.add_argument("--rate", type=float, default=200.0, help="deliveries offered per second (default 200)")
    parser.add_argument("--max-mps", type=float, default=1000.0,
                        help="WHATSAPP_MAX_MPS for every process (default 1000: the stand-in is not Meta)")
    parser.add_argument("--time-limit", type=float, default=3600.0,
                        help="bound on the whole benchmark, seconds (default 3600)")
    parser.add_argument("--min-run", type=float, default=240.0,
                        help="start no run with less than this many seconds left (default 240)")
    parser.add_argument("--drain-timeout", type=float, default=3600.0,
                        help="longest wait for one run's backlog, seconds (default 3600)")
    parser.add_argument("--stall", type=float, default=60.0,
                        help="stop waiting when no turn was answered for this long, seconds (default 60)")
    parser.add_argument("--start-timeout", type=float, default=420.0,
                        help="longest wait for run_cluster.sh to be ready, seconds (default 420)")
    parser.add_argument("--statuses", action="store_true",
                        help="the stand-in sends Meta's sent, delivered and read webhooks after every send")
    parser.add_argument("--serve-graph", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_graph:
        serve_graph(args.serve_graph, os.environ[TOKEN_VAR])
        return

    counts = args.messages or ([200] if args.quick else [1000, 10000])
    processes = args.processes or ([1, 2] if args.quick else [1, 2, 4])
    signal.signal(signal.SIGTERM, _interrupt)
    LOGS.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    deadline = began + args.time_limit
    base_env = {**os.environ, "SERVICES_DIR": str(SERVICES_DIR), "PG_PORT": str(free_port()),
                "REDIS_PORT": str(free_port()), "NGINX_PORT": str(free_port())}
    load_before = os.getloadavg()
    busy_before = cpu_busy_share()
    results: list[dict] = []
    skipped: list[str] = []
    stop_services(base_env)  # a run killed before its clean-up may have left ours running
    try:
        urls = start_services(base_env)
        plan = [(n, count) for count in counts for n in processes]
        for step, (n, count) in enumerate(plan):
            if deadline - time.monotonic() < args.min_run:
                skipped = [f"{p} x {c:,}" for p, c in plan[step:]]
                break
            results.append(run_once(n, count, len(results), args, base_env, urls, deadline))
    except KeyboardInterrupt:
        print("interrupted; stopping", file=sys.stderr)
    except RuntimeError as error:  # a cluster that did not start or did not answer: report what ran
        print(f"stopped early: {error}", file=sys.stderr)
    finally:
        stop_services(base_env)
    load_after = os.getloadavg()
    if results:
        print("\n".join(table(results)))
    if skipped:
        print(f"- not run (time limit {args.time_limit:.0f} s): {', '.join(skipped)}")
    print(f"\nmachine: {os.cpu_count()} CPUs shared with other work; load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f}; CPUs busy just before the runs {busy_before:.0%}. "
          f"PostgreSQL, Redis, nginx, the action server, every `rasa run`, the stand-in and this load "
          f"generator all run on those CPUs. {args.rate:g} deliveries/s offered; WHATSAPP_MAX_MPS "
          f"{args.max_mps:g}; status webhooks {'on' if args.statuses else 'off'}; whole benchmark {time.monotonic() - began:.0f} s.")


def _interrupt(_signum: int, _frame: Any) -> None:
    """Turn SIGTERM into KeyboardInterrupt, so the clean-up in main runs."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
