"""Benchmark the production configuration with 1 and 2 `rasa run` instances (not a test; prints a table).

Run: .venv/bin/python benchmarks/cluster.py [--quick] [--counts 1000,10000] [--instances 1,2]

Each run (instances x messages) starts the production configuration afresh with
scripts/run_cluster.sh (PostgreSQL, Redis and nginx from scripts/services.sh, the action server,
RASA_PORTS instances behind nginx), with the channel's Graph API pointed at the Graph stand-in of
benchmarks/whatsapp.py in its own process (its /_bench/arrivals feed says when each reply arrived)
and fresh secrets passed in the environment. Everything listens on 127.0.0.1. Before each run the
channel's tables and the tracker store are emptied and run_cluster.sh re-seeds the business data,
so every run starts from the same state; every sender is a new unregistered number saying "hi"
(a session start, a greeting and the main menu: two WhatsApp messages per turn).

  ack        signed deliveries POSTed to nginx at a fixed rate (--rate, 200/s), one message each;
             time from sending the POST to reading its 200
  reply      time from sending the POST to the stand-in receiving the turn's first message; when
             the rate offered is above what the instances answer, this is mostly time in the queue,
             so it grows with the number of messages
  turns/s    turns answered (second message at the stand-in) per second between the 10% and 90%
             completion marks
  answered   turns answered / offered when the backlog drained, or when nothing was answered for
             --stall seconds, or after --drain-timeout
  duplicates messages at the stand-in beyond the two a turn has, summed over the run's senders
  non-200    acks that were not 200 (0: no answer within 120 s or the connection failed)

The runs share the machine's CPUs with PostgreSQL, nginx, the stand-in and this load generator.
Services that were already up are left up; services this script started are stopped on exit
(also on Ctrl-C). `--private-services` runs its own PostgreSQL/Redis/nginx under var/bench-services
on free ports (scripts/services.sh SERVICES_DIR) instead of the shared var/services set, whose nginx
another cluster may repoint mid-run (a run that saw that is flagged as not valid).
Logs: var/cluster/ (run_cluster.sh) and var/cluster/bench-*.log (this script).
"""
from __future__ import annotations

import argparse
import asyncio
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

from benchmarks.whatsapp import (PHONE_NUMBER_ID, REPLIES_PER_TURN, WABA_ID, Bench,  # noqa: E402
                                 cpu_busy_share, delivery_bytes, offer, pct, senders, serve_graph,
                                 steady_rate)
from tests.harness import free_port, wait_http  # noqa: E402

LOGS = ROOT / "var" / "cluster"
SERVICES = ROOT / "scripts" / "services.sh"
RUN_CLUSTER = ROOT / "scripts" / "run_cluster.sh"
TOKEN_VAR = "BENCH_GRAPH_TOKEN"  # the stand-in's token travels in the environment, not in argv


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

def services_up(env: dict[str, str]) -> bool:
    """Return whether any of PostgreSQL, Redis or nginx already answers (then it is not ours to stop)."""
    out = subprocess.run(["bash", str(SERVICES), "status"], cwd=ROOT, env=env, capture_output=True, text=True)
    return any(line.endswith(" up") or ": up " in line for line in out.stdout.splitlines())


def start_services(env: dict[str, str]) -> dict[str, str]:
    """Start (or reconfigure) the services for env's RASA_PORTS; return the URLs they print."""
    out = subprocess.run(["bash", str(SERVICES), "start"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"scripts/services.sh start failed:\n{out.stderr[-2000:]}")
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def stop_services(env: dict[str, str]) -> None:
    """Stop PostgreSQL, Redis and nginx."""
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


def nginx_dir(env: dict[str, str]) -> Path:
    """Return the directory of the nginx that scripts/services.sh runs for env (SERVICES_DIR)."""
    return Path(env.get("SERVICES_DIR") or ROOT / "var" / "services") / "nginx"


def nginx_upstreams(env: dict[str, str]) -> set[int]:
    """Return the ports nginx balances across now (scripts/services.sh writes them into its config)."""
    conf = nginx_dir(env) / "nginx.conf"
    if not conf.exists():
        return set()
    return {int(line.split("127.0.0.1:", 1)[1].split()[0].rstrip(";"))
            for line in conf.read_text().splitlines() if line.strip().startswith("server 127.0.0.1:")}


def start_graph(port: int, token: str, log: Path) -> subprocess.Popen:
    """Start the Graph stand-in of benchmarks/whatsapp.py in its own process."""
    env = {**os.environ, TOKEN_VAR: token}
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

async def drain(bench: Bench, users: list[str], timeout: float, stall: float) -> int:
    """Wait until every user got a whole turn, nothing new for stall seconds, or timeout; return how many."""
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
        if done == len(users) or now - start > timeout or now - progressed > stall:
            return done
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


async def measure(cluster: Cluster, count: int, rate: float, prefix: str, args: argparse.Namespace,
                  access_log: Path) -> dict[str, Any]:
    """Warm up, offer count deliveries through nginx at rate and drain; return the run's figures."""
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        bench = ClusterBench(cluster.nginx_url, cluster.graph_url, cluster.app_secret, http)
        warm = senders("9" + prefix, 10 * len(cluster.rasa_ports))
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
        posts = await offer(bench, bodies, rate)
        offered_for = time.time() - started
        answered = await drain(bench, users, args.drain_timeout, args.stall)
        await asyncio.sleep(2.0)  # a late duplicate would arrive now
        await bench.poll()

    done = [bench.last[u][1] for u in users if bench.last.get(u, (0, 0))[0] >= REPLIES_PER_TURN]
    return {
        "ack": [seconds * 1000 for _, seconds, _ in posts],
        "non_200": sum(status != 200 for _, _, status in posts),
        "reply": [(bench.first[u] - sent) * 1000 for u, (sent, _, _) in zip(users, posts) if u in bench.first],
        "rate": steady_rate(done),
        "answered": answered,
        "count": count,
        "duplicates": sum(max(0, bench.last.get(u, (0, 0))[0] - REPLIES_PER_TURN) for u in users),
        "offered_for": offered_for,
        "drained_in": (max(done) - started) if done else float("nan"),
        "upstreams": upstream_counts(access_log, log_offset),
    }


def run_once(instances: int, count: int, index: int, args: argparse.Namespace, base_env: dict[str, str]) -> dict:
    """Start a fresh cluster with instances `rasa run`s, measure count messages, stop it."""
    rasa_ports = tuple(free_port() for _ in range(instances))
    graph_port = free_port()
    token, app_secret, verify = (secrets.token_hex(24) for _ in range(3))
    env = {**base_env, "RASA_PORTS": " ".join(map(str, rasa_ports)), "KEEP_SERVICES": "1",
           "ACTION_PORT": str(free_port()), "SIM_PORT": str(free_port()), "NGINX_PORT": str(args.nginx_port)}
    env.pop("KEEP_DATA", None)  # run_cluster.sh re-seeds the business data
    env.update({
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID,
        "WHATSAPP_API_TOKEN": token, "WHATSAPP_APP_SECRET": app_secret, "WHATSAPP_WEBHOOK_VERIFY_TOKEN": verify,
        "WHATSAPP_GRAPH_API_URL": f"http://127.0.0.1:{graph_port}", "WHATSAPP_MAX_MPS": str(args.max_mps),
    })
    tag = f"{instances}x{count}"
    print(f"run {tag}: starting (rasa {' '.join(map(str, rasa_ports))})", file=sys.stderr, flush=True)
    began = time.monotonic()
    urls = start_services(env)  # reconfigures nginx for these RASA_PORTS if it is already up
    empty_stores(urls)
    graph = cluster = None
    try:
        graph = start_graph(graph_port, token, LOGS / f"bench-graph-{tag}.log")
        cluster = start_cluster(env, LOGS / f"bench-cluster-{tag}.log", args.start_timeout)
        if nginx_upstreams(env) != set(rasa_ports):  # someone else pointed the shared nginx elsewhere
            print(f"run {tag}: nginx balanced {sorted(nginx_upstreams(env))}; pointing it back", file=sys.stderr)
            start_services(env)
        up_in = time.monotonic() - began
        print(f"run {tag}: up in {up_in:.0f} s; offering {count} at {args.rate:g}/s", file=sys.stderr, flush=True)
        figures = asyncio.run(measure(
            Cluster(f"http://127.0.0.1:{args.nginx_port}", f"http://127.0.0.1:{graph_port}", app_secret, rasa_ports),
            count, args.rate, f"{instances}{index:02d}", args, nginx_dir(env) / "access.log"))
    finally:
        stop_process(cluster)
        stop_process(graph, grace=10)
    figures.update(instances=instances, rasa_ports=rasa_ports, up_in=up_in, took=time.monotonic() - began)
    print(f"run {tag}: done in {figures['took']:.0f} s", file=sys.stderr, flush=True)
    return figures


# --- output ------------------------------------------------------------------------------------------

def table(results: list[dict]) -> list[str]:
    """Return the markdown table and the growth lines."""
    lines = ["| instances | messages | ack p50 | ack p99 | reply p50 | reply p99 | turns/s | answered | duplicates "
             "| non-200 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['instances']} | {r['count']:,} | {pct(r['ack'], 50):.1f} ms | {pct(r['ack'], 99):.1f} ms "
            f"| {ms(pct(r['reply'], 50))} | {ms(pct(r['reply'], 99))} | {r['rate']:.1f} "
            f"| {r['answered']:,}/{r['count']:,} | {r['duplicates']} | {r['non_200']} |")
    lines.append("")
    for r in results:
        split = ", ".join(f"{n} to {u}" for u, n in sorted(r["upstreams"].items())) or "no access log"
        ours = {f"127.0.0.1:{port}" for port in r["rasa_ports"]}
        foreign = sum(n for u, n in r["upstreams"].items() if u.startswith("127.0.0.1:") and u not in ours)
        if foreign:
            lines.append(f"- WARNING {r['instances']} x {r['count']:,}: nginx sent {foreign} webhook POSTs to "
                         f"instances that are not this run's (another cluster reconfigured the shared nginx "
                         f"during the run): this row is not valid")
        lines.append(f"- {r['instances']} x {r['count']:,}: offered in {r['offered_for']:.1f} s, last turn answered "
                     f"{r['drained_in']:.1f} s after the first POST; nginx sent {split}; cluster up in "
                     f"{r['up_in']:.0f} s, run took {r['took']:.0f} s")
    by = {(r["instances"], r["count"]): r for r in results}
    counts = sorted({r["count"] for r in results})
    for instances in sorted({r["instances"] for r in results}):
        if len(counts) > 1 and (instances, counts[0]) in by and (instances, counts[-1]) in by:
            a, b = by[instances, counts[0]], by[instances, counts[-1]]
            lines.append(f"- growth {counts[0]:,} -> {counts[-1]:,} messages, {instances} instance(s): "
                         f"ack p99 x{ratio(pct(b['ack'], 99), pct(a['ack'], 99))}, "
                         f"reply p50 x{ratio(pct(b['reply'], 50), pct(a['reply'], 50))}, "
                         f"reply p99 x{ratio(pct(b['reply'], 99), pct(a['reply'], 99))}, "
                         f"turns/s x{ratio(b['rate'], a['rate'])}")
    for count in counts:
        if (1, count) in by and (2, count) in by:
            lines.append(f"- 2 instances / 1 instance at {count:,} messages: turns/s "
                         f"x{ratio(by[2, count]['rate'], by[1, count]['rate'])}")
    return lines


def ms(value: float) -> str:
    """Format milliseconds, as seconds once they get large."""
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:.0f} ms"


def ratio(a: float, b: float) -> str:
    """Format a / b."""
    return f"{a / b:.2f}" if b and b == b and a == a else "n/a"


# --- main --------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 messages (a smoke run)")
    parser.add_argument("--counts", help="comma-separated message counts (default 1000,10000)")
    parser.add_argument("--instances", default="1,2", help="comma-separated instance counts (default 1,2)")
    parser.add_argument("--rate", type=float, default=200.0, help="deliveries offered per second (default 200)")
    parser.add_argument("--max-mps", type=float, default=1000.0,
                        help="WHATSAPP_MAX_MPS for every instance (default 1000: the stand-in is not Meta)")
    parser.add_argument("--drain-timeout", type=float, default=3600.0,
                        help="longest wait for a run's backlog, seconds (default 3600)")
    parser.add_argument("--stall", type=float, default=60.0,
                        help="stop waiting when no turn was answered for this long, seconds (default 60)")
    parser.add_argument("--start-timeout", type=float, default=420.0,
                        help="longest wait for run_cluster.sh to be ready, seconds (default 420)")
    parser.add_argument("--nginx-port", type=int, default=int(os.environ.get("NGINX_PORT", "8088")))
    parser.add_argument("--private-services", action="store_true",
                        help="run a private PostgreSQL/Redis/nginx under var/bench-services on free ports "
                             "(scripts/services.sh SERVICES_DIR), so other work on var/services is not touched")
    parser.add_argument("--serve-graph", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_graph:
        serve_graph(args.serve_graph, os.environ[TOKEN_VAR])
        return

    counts = [int(c) for c in (args.counts or ("200,1000" if args.quick else "1000,10000")).split(",")]
    instances = [int(n) for n in args.instances.split(",")]
    signal.signal(signal.SIGTERM, _interrupt)
    LOGS.mkdir(parents=True, exist_ok=True)
    base_env = dict(os.environ)
    if args.private_services:
        if "SERVICES_DIR" not in SERVICES.read_text():
            parser.error("--private-services needs SERVICES_DIR support in scripts/services.sh")
        base_env.update(SERVICES_DIR=str(ROOT / "var" / "bench-services"), PG_PORT=str(free_port()),
                        REDIS_PORT=str(free_port()))
        args.nginx_port = free_port()
    base_env["NGINX_PORT"] = str(args.nginx_port)
    were_up = services_up(base_env)
    load_before = os.getloadavg()
    busy_before = cpu_busy_share()
    began = time.monotonic()
    results: list[dict] = []
    try:
        for n in instances:
            for count in counts:
                results.append(run_once(n, count, len(results), args, base_env))
    except KeyboardInterrupt:
        print("interrupted; stopping", file=sys.stderr)
    except RuntimeError as error:  # a cluster that did not start or did not answer: report what ran
        print(f"stopped early: {error}", file=sys.stderr)
    finally:
        if not were_up:
            stop_services(base_env)
    load_after = os.getloadavg()
    if results:
        print("\n".join(table(results)))
    print(f"\nmachine: {os.cpu_count()} CPUs shared with other work; load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f}; CPUs busy just before the runs {busy_before:.0%}. "
          f"PostgreSQL, Redis, nginx, the action server, every `rasa run`, the stand-in and this load "
          f"generator all run on those CPUs. {args.rate:g} deliveries/s offered; WHATSAPP_MAX_MPS "
          f"{args.max_mps:g}; whole benchmark {time.monotonic() - began:.0f} s.")


def _interrupt(_signum: int, _frame: Any) -> None:
    """Turn SIGTERM into KeyboardInterrupt, so the clean-up in main runs."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
