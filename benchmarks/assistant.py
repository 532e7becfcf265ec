"""Benchmark the assistant and print the figures (not a test; run: .venv/bin/python benchmarks/assistant.py).

Prints: training time from scratch (empty cache, forced), intent accuracy and
macro F1 on the held-out split, order_id/defect_id entity F1, per group of the
persona splits (english, hinglish, hindi) the share understood, answered wrongly
and asked back when parsed as `rasa run` parses, the most frequent confusions,
NLU parse latency p50/p99, and the resident memory of a running `rasa run`.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.heldout import parse_all, print_report, report  # noqa: E402
from tests.harness import running_stack  # noqa: E402

BIN = Path(sys.executable).parent
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}


def train_from_scratch(out: Path) -> tuple[float, float]:
    """Train with an empty cache into out; return wall and CPU seconds (CPU time hardly grows with other load, wall time does)."""
    env = {**ENV, "RASA_CACHE_DIRECTORY": str(out / "cache")}
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(
        [BIN / "rasa", "train", "--force", "--out", str(out), "--fixed-model-name", "bench", "--quiet"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wall = time.monotonic() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)


def nlu_figures(model: Path, out: Path) -> dict:
    """Run `rasa test nlu` on the held-out split and read accuracy and F1 figures."""
    subprocess.run(
        [BIN / "rasa", "test", "nlu", "--nlu", "tests/nlu/test_nlu.yml", "--model", str(model),
         "--out", str(out), "--quiet"],
        cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    intents = json.loads((out / "intent_report.json").read_text())
    entities = json.loads((out / "RegexEntityExtractor_report.json").read_text())
    return {
        "intent_accuracy": intents["accuracy"],
        "intent_macro_f1": intents["macro avg"]["f1-score"],
        "order_id_f1": entities["order_id"]["f1-score"],
        "defect_id_f1": entities["defect_id"]["f1-score"],
    }


def parse_latencies(model: Path, rounds: int = 3) -> list[float]:
    """Parse every held-out and persona example `rounds` times in-process; return per-parse milliseconds."""
    import logging

    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # parse logs at DEBUG would dominate the timing
    agent = Agent.load(str(model))
    texts = [m.get("text") for path in (ROOT / "tests/nlu/test_nlu.yml", *sorted((ROOT / "tests/nlu/heldout").glob("*.yml")))
             for m in load_data(str(path)).intent_examples]

    async def run() -> list[float]:
        for text in texts[:20]:  # warm-up
            await agent.parse_message(text)
        timings = []
        for _ in range(rounds):
            for text in texts:
                start = time.perf_counter()
                await agent.parse_message(text)
                timings.append((time.perf_counter() - start) * 1000)
        return timings

    return asyncio.run(run())


def rasa_rss_mb(workdir: Path) -> float:
    """Start the real stack, hold a few conversations, and read Rasa's resident memory."""
    import urllib.request

    with running_stack(workdir) as stack:
        for sender in ("919800000001", "919800000002", "919800000009"):
            for text in ("hi", "1", "2", "ORD-10001", "menu", "3", "1"):
                body = json.dumps({"sender": sender, "message": text}).encode()
                req = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/webhook", body,
                                             {"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=60).read()
        pid = stack.services["rasa"].proc.pid
        status = Path(f"/proc/{pid}/status").read_text()
        kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
        return kb / 1024


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        tmp_path = Path(tmp)
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before training")
        seconds, cpu = train_from_scratch(tmp_path)
        model = tmp_path / "bench.tar.gz"
        print(f"training time from scratch: {seconds:.1f} s wall, {cpu:.1f} s CPU (target <= 150 s wall; "
              f"load average {os.getloadavg()[0]:.2f} after)")
        nlu = nlu_figures(model, tmp_path / "nlu")
        print(f"intent accuracy (held-out): {nlu['intent_accuracy']:.3f}")
        print(f"intent macro F1 (held-out): {nlu['intent_macro_f1']:.3f}")
        print(f"entity F1 order_id: {nlu['order_id_f1']:.3f}  defect_id: {nlu['defect_id_f1']:.3f}")
        print("persona splits (tests/nlu/heldout), parsed as `rasa run` parses:")
        print_report(report(parse_all(model, [ROOT / "tests/nlu/heldout"])))
        timings = parse_latencies(model)
        print(f"parse latency over {len(timings)} parses: p50 {percentile(timings, 50):.1f} ms, "
              f"p99 {percentile(timings, 99):.1f} ms")
        print(f"rasa run RSS after 21 turns: {rasa_rss_mb(tmp_path / 'stack'):.0f} MB")


if __name__ == "__main__":
    main()
