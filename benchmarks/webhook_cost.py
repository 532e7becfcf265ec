"""What one webhook request costs `rasa run` in CPU, per thread (not a test; prints a table).

Run: .venv/bin/python benchmarks/webhook_cost.py [--requests 2000] [--rate 200] [--rounds 2]

One real stack (tests/harness.py: SQLite, the action server, `rasa run` with the WhatsApp channel),
no Graph stand-in needed: nothing here makes Rasa answer. Each kind of request is POSTed (or GET)
at a steady rate, and the CPU `rasa run` spent is read from /proc before and after, for Sanic's loop
(the main thread) and for the other threads (the ingress writer, SQL threads):

  health   GET /webhooks/whatsapp/: Sanic and Rasa's middleware alone
  refused  a POST with a wrong signature (403): plus reading the body, the check and a log line
  status   a signed status webhook naming an outbox row (as each of Meta's sent, delivered and
           read does): plus parsing and the durable save on the ingress thread
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from benchmarks.whatsapp import PHONE_NUMBER_ID, WABA_ID, cpu_seconds, pct, status_bytes  # noqa: E402
from connectors.whatsapp.security import signature_for  # noqa: E402
from tests.harness import running_stack  # noqa: E402

Request = tuple[str, str, dict[str, Any]]  # method, url, keyword arguments of aiohttp's request


def thread_cpu(pid: int) -> dict[str, float]:
    """Return CPU seconds (user + system) of pid's main thread (Sanic's loop) and of all its others."""
    loop = cpu_seconds(pid, thread=pid)
    return {"Sanic's loop": loop, "other threads": cpu_seconds(pid) - loop}


async def measure(http: aiohttp.ClientSession, pid: int, requests: list[Request], rate: float) -> tuple[dict[str, float], list[float], set[int]]:
    """Send requests at rate; return CPU ms per request by thread, latencies (ms) and the statuses seen."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    latencies: list[float] = []

    async def one(n: int, request: Request) -> int:
        delay = start + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        began = time.perf_counter()
        method, url, kwargs = request
        async with http.request(method, url, **kwargs) as response:
            await response.read()
            latencies.append(1000 * (time.perf_counter() - began))
            return response.status

    before = thread_cpu(pid)
    statuses = await asyncio.gather(*(one(n, r) for n, r in enumerate(requests)))
    await asyncio.sleep(0.5)  # let the last saves finish
    after = thread_cpu(pid)
    per_thread = {k: 1000 * (v - before[k]) / len(requests) for k, v in after.items()}
    return per_thread, latencies, set(statuses)


def kinds(rasa_url: str, secret: str) -> dict[str, Callable[[int], Request]]:
    """Return how to build request n of each kind."""
    hook = f"{rasa_url}/webhooks/whatsapp/webhook"

    def status(n: int, sign: bool) -> Request:
        raw = status_bytes({"id": f"wamid.cost{n}{secrets.token_hex(4)}", "status": "delivered",
                            "timestamp": str(int(time.time())), "recipient_id": "919800000001",
                            "biz_opaque_callback_data": f"outbox:{n + 1}"})
        signature = signature_for(secret, raw) if sign else "sha256=" + "0" * 64
        return "POST", hook, {"data": raw, "headers": {"Content-Type": "application/json",
                                                        "X-Hub-Signature-256": signature}}

    return {"health": lambda n: ("GET", f"{rasa_url}/webhooks/whatsapp/", {}),
            "refused": lambda n: status(n, sign=False),
            "status": lambda n: status(n, sign=True)}


async def run(args: argparse.Namespace, rasa_url: str, secret: str, pid: int) -> list[str]:
    """Measure every kind args.rounds times; return the table's lines."""
    lines = ["| request | round | CPU per request | of which, by thread | latency p50 / p99 | answers |",
             "|---|---|---|---|---|---|"]
    async with aiohttp.ClientSession() as http:
        for round_ in range(1, args.rounds + 1):
            for kind, make in kinds(rasa_url, secret).items():
                per_thread, latencies, statuses = await measure(
                    http, pid, [make(n) for n in range(args.requests)], args.rate)
                threads = ", ".join(f"{name} {ms:.2f} ms" for name, ms in per_thread.items())
                lines.append(f"| {kind} | {round_} | {sum(per_thread.values()):.2f} ms | {threads} | "
                             f"{pct(latencies, 50):.1f} / {pct(latencies, 99):.1f} ms | "
                             f"{', '.join(map(str, sorted(statuses)))} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests of each kind per round")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    token, secret, verify = (secrets.token_urlsafe(24) for _ in range(3))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        workdir = Path(tmp)
        credentials = workdir / "credentials.yml"
        credentials.write_text("connectors.whatsapp.WhatsAppInput:\nrest:\n")
        env = {"WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID,
               "WHATSAPP_API_TOKEN": token, "WHATSAPP_APP_SECRET": secret,
               "WHATSAPP_WEBHOOK_VERIFY_TOKEN": verify, "WHATSAPP_MEDIA_DIR": str(workdir / "media"),
               "WHATSAPP_GRAPH_API_URL": "http://127.0.0.1:9"}  # never called: no message, no send
        with running_stack(workdir / "stack", credentials=credentials, extra_env=env) as stack:
            lines = asyncio.run(run(args, stack.rasa_url, secret, stack.services["rasa"].proc.pid))
    print("\n".join(lines))
    print(f"\n{args.requests} requests of each kind per round at {args.rate:g}/s; machine: {os.cpu_count()} CPUs, "
          f"load average before {load_before:.2f}. Other threads: mostly the ingress writer (statuses); "
          f"Rasa's turns do not run here.")


if __name__ == "__main__":
    main()
