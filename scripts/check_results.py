"""Check `rasa test` results against the targets and print the figures.

Targets (issue: the assistant): intent accuracy >= 0.95 on the held-out split,
numbered choices 100%, order_id/defect_id entity F1 >= 0.98, test stories 100%; and on the persona
splits (tests/nlu/heldout, parsed as `rasa run` does by scripts/heldout.py) a floor on "understood"
and a ceiling on "answered wrongly" per group (HELDOUT_TARGETS).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def figures(results: Path) -> list[tuple[str, float, float]]:
    """Return (name, measured, target) for every target."""
    intents = load(results / "nlu" / "intent_report.json")
    regex = load(results / "nlu" / "RegexEntityExtractor_report.json")
    tagger = load(results / "nlu" / "NumberedChoiceTagger_report.json")
    stories = load(results / "core" / "story_report.json")["conversation_accuracy"]
    return [
        ("intent accuracy", intents["accuracy"], 0.95),
        ("numbered choices (choose_option F1)", intents["choose_option"]["f1-score"], 1.0),
        ("option entity F1", tagger["option"]["f1-score"], 1.0),
        ("order_id entity F1", regex["order_id"]["f1-score"], 0.98),
        ("defect_id entity F1", regex["defect_id"]["f1-score"], 0.98),
        ("test stories correct", stories["correct"] / max(stories["total"], 1), 1.0),
    ]


# group: (understood at least, answered wrongly at most). English like our own split has the issue's
# target for it (97% / 2%); real-customer wording, Hinglish and Hindi have theirs (85% / 5%).
HELDOUT_TARGETS = {"english": (0.97, 0.02), "english_support": (0.85, 0.05), "hinglish": (0.85, 0.05), "hindi": (0.85, 0.05)}


def heldout_figures(results: Path) -> list[tuple[str, float, float, bool]]:
    """Return (name, measured, target, ok) for the persona splits' outcomes."""
    groups = load(results / "heldout.json")["groups"]
    found = []
    for group, (understood, wrong) in HELDOUT_TARGETS.items():
        row = groups[group]
        found.append((f"{group} understood", row["understood"], understood, row["understood"] >= understood))
        found.append((f"{group} answered wrongly", row["wrong"], wrong, row["wrong"] <= wrong))
    return found


def main() -> int:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    intents = load(results / "nlu" / "intent_report.json")
    failed = 0
    for name, measured, target in figures(results):
        ok = measured >= target
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {measured:.3f} (target >= {target})")
    print(f"     intent macro F1: {intents['macro avg']['f1-score']:.3f}")
    for name, measured, target, ok in heldout_figures(results):
        failed += not ok
        bound = ">=" if "understood" in name else "<="
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {measured:.3f} (target {bound} {target})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
