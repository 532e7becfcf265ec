"""Choose the NLU's confidence thresholds on the validation split and print the trade-off.

Parses tests/nlu/validation once with the trained model, then replays the classifier's own output
under each combination of thresholds (intent confidence, top-two ambiguity, FAQ topic confidence)
and prints understood / answered wrongly / asked back. The pick minimises 3 x wrong + asked back:
a confident wrong answer costs more than a "did you mean ...?". Not a test; run:

    .venv/bin/python benchmarks/thresholds.py [--model models/assistant.tar.gz]
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.heldout import ASKED, UNDERSTOOD, WRONG, Thresholds, outcome_with, parse_all, tally  # noqa: E402

INTENT = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)
AMBIGUITY = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
FAQ = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
WRONG_COST = 3.0


def cost(row: dict) -> float:
    """Return what a threshold choice costs: wrong answers weigh three times an asked-back question."""
    return WRONG_COST * row[WRONG] + row[ASKED]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "models/assistant.tar.gz")
    parser.add_argument("--split", type=Path, default=ROOT / "tests/nlu/validation")
    args = parser.parse_args()
    parses = parse_all(args.model, [args.split])
    rows = []
    for intent, ambiguity, faq in itertools.product(INTENT, AMBIGUITY, FAQ):
        chosen = Thresholds(intent, ambiguity, faq)
        rows.append((chosen, tally(outcome_with(p, chosen) for p in parses),
                     {g: tally(outcome_with(p, chosen) for p in parses if p.group == g)
                      for g in sorted({p.group for p in parses})}))
    rows.sort(key=lambda r: cost(r[1]))
    print(f"validation split: {len(parses)} messages; cost = {WRONG_COST:g} x wrong + asked back")
    print(f"{'intent':>6} {'ambig':>5} {'faq':>4} | {'understood':>10} {'wrong':>6} {'asked':>6} | per group (u/w/a)")
    for chosen, row, groups in rows[:15]:
        per_group = "  ".join(f"{g}: {r[UNDERSTOOD]:.0%}/{r[WRONG]:.0%}/{r[ASKED]:.0%}" for g, r in groups.items())
        print(f"{chosen.intent:>6} {chosen.ambiguity:>5} {chosen.faq:>4} | {row[UNDERSTOOD]:>10.1%} "
              f"{row[WRONG]:>6.1%} {row[ASKED]:>6.1%} | {per_group}")
    print("trade-off along the intent threshold (ambiguity and faq at the pick):")
    best = rows[0][0]
    for chosen, row, _groups in sorted((r for r in rows if r[0].ambiguity == best.ambiguity and r[0].faq == best.faq),
                                       key=lambda r: r[0].intent):
        print(f"  intent >= {chosen.intent:<4}: understood {row[UNDERSTOOD]:.1%}, wrong {row[WRONG]:.1%}, "
              f"asked {row[ASKED]:.1%}")
    print(f"pick: FallbackClassifier threshold {best.intent}, ambiguity_threshold {best.ambiguity}, "
          f"FaqConfidenceGate threshold {best.faq}")


if __name__ == "__main__":
    main()
