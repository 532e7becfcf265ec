"""Score NLU splits the way `rasa run` parses: understood, answered wrongly, or asked back.

`rasa test nlu` undoes fallback predictions when it scores, so it cannot tell "asked back" from
"wrong". This parses every example with the trained model (FallbackClassifier and FAQ gate in
force) and sorts each into one of three outcomes, per group (one YAML file = one group, e.g.
english/hinglish/hindi). The raw ranking is kept too, so other thresholds can be simulated on the
same parses (benchmarks/thresholds.py).

    python scripts/heldout.py --model models/assistant.tar.gz --out results/heldout.json tests/nlu/heldout
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python scripts/heldout.py`
    sys.path.insert(0, str(ROOT))

from components.faq_gate import faq_topic  # noqa: E402

UNDERSTOOD, WRONG, ASKED = "understood", "wrong", "asked"
FALLBACK = "nlu_fallback"


@dataclass(frozen=True)
class Parsed:
    """One example: what it means and what the model made of it."""

    group: str
    text: str
    expected: str  # an intent, or faq/<topic>
    predicted: str  # the intent `rasa run` acts on (nlu_fallback when unsure)
    top: str  # the classifier's own first intent, faq as faq/<topic>
    top_confidence: float
    second_confidence: float
    faq_confidence: float  # the ResponseSelector's confidence in its topic (0 when not an FAQ)


@dataclass(frozen=True)
class Thresholds:
    """Where the NLU stops guessing (config.yml: FallbackClassifier and FaqConfidenceGate)."""

    intent: float
    ambiguity: float
    faq: float


def outcome_as_run(parsed: Parsed) -> str:
    """Return the outcome of what the model actually answered."""
    if parsed.predicted == FALLBACK:
        return ASKED
    return UNDERSTOOD if parsed.predicted == parsed.expected else WRONG


def outcome_with(parsed: Parsed, thresholds: Thresholds) -> str:
    """Return the outcome had the model run with other thresholds (same classifier output)."""
    if parsed.top_confidence < thresholds.intent:
        return ASKED
    if parsed.top_confidence - parsed.second_confidence < thresholds.ambiguity:
        return ASKED
    if parsed.top.startswith("faq/") and parsed.faq_confidence < thresholds.faq:
        return ASKED
    return UNDERSTOOD if parsed.top == parsed.expected else WRONG


def tally(outcomes: Iterable[str]) -> dict[str, float]:
    """Return the share of each outcome and the count."""
    counts = Counter(outcomes)
    total = sum(counts.values()) or 1
    return {UNDERSTOOD: counts[UNDERSTOOD] / total, WRONG: counts[WRONG] / total,
            ASKED: counts[ASKED] / total, "n": sum(counts.values())}


def confusions(parses: Iterable[Parsed], top_n: int = 10) -> list[tuple[str, str, int]]:
    """Return the most frequent (expected, answered) pairs among wrong answers."""
    pairs = Counter((p.expected, p.predicted) for p in parses if outcome_as_run(p) == WRONG)
    return [(expected, got, n) for (expected, got), n in pairs.most_common(top_n)]


def _name_of(intent: str, data: dict) -> str:
    """Return faq/<topic> for an FAQ (from the ResponseSelector), else the intent."""
    if intent != "faq":
        return intent
    return faq_topic(data)[0] or "faq"


def read_parse(group: str, text: str, expected: str, data: dict) -> Parsed:
    """Build a Parsed from what Agent.parse_message returned."""
    ranking = [r for r in data.get("intent_ranking") or [] if r.get("name") != FALLBACK]
    first = ranking[0] if ranking else {"name": "", "confidence": 0.0}
    second = float(ranking[1]["confidence"]) if len(ranking) > 1 else 0.0
    predicted = str((data.get("intent") or {}).get("name") or "")
    return Parsed(group=group, text=text, expected=expected, predicted=_name_of(predicted, data),
                  top=_name_of(str(first["name"]), data), top_confidence=float(first["confidence"]),
                  second_confidence=second,
                  faq_confidence=faq_topic(data)[1] if first["name"] == "faq" else 0.0)


def examples(paths: list[Path]) -> list[tuple[str, str, str]]:
    """Return (group, text, expected intent) for every example in the YAML files under paths."""
    from rasa.shared.nlu.training_data.loading import load_data

    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.glob("*.yml")))
    found = []
    for path in files:
        for message in load_data(str(path)).intent_examples:
            expected = message.get("intent_response_key") or message.get("intent")
            found.append((path.stem, message.get("text"), expected))
    return found


def parse_all(model: Path, paths: list[Path]) -> list[Parsed]:
    """Parse every example with the trained model, as `rasa run` does."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    agent = Agent.load(str(model))

    async def run() -> list[Parsed]:
        return [read_parse(group, text, expected, await agent.parse_message(text))
                for group, text, expected in examples(paths)]

    return asyncio.run(run())


def report(parses: list[Parsed]) -> dict:
    """Return per-group outcome shares and the top confusions."""
    groups = sorted({p.group for p in parses})
    return {
        "groups": {g: tally(outcome_as_run(p) for p in parses if p.group == g) for g in groups},
        "all": tally(outcome_as_run(p) for p in parses),
        "confusions": confusions(parses),
    }


def print_report(summary: dict) -> None:
    """Print the outcome table and the confusions."""
    print(f"{'group':<12} {'n':>4} {'understood':>11} {'wrong':>7} {'asked back':>11}")
    for group, row in [*summary["groups"].items(), ("all", summary["all"])]:
        print(f"{group:<12} {row['n']:>4} {row[UNDERSTOOD]:>10.1%} {row[WRONG]:>7.1%} {row[ASKED]:>10.1%}")
    print("most frequent wrong answers (expected -> answered, count):")
    for expected, got, count in summary["confusions"]:
        print(f"  {expected} -> {got}: {count}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/assistant.tar.gz"))
    parser.add_argument("--out", type=Path, help="write the figures and every parse as JSON")
    parser.add_argument("paths", type=Path, nargs="+", help="NLU YAML files or folders (one group per file)")
    args = parser.parse_args(argv)
    parses = parse_all(args.model, args.paths)
    summary = report(parses)
    print_report(summary)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**summary, "parses": [asdict(p) for p in parses]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
