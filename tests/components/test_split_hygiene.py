"""The held-out and validation splits stay unseen: none of their sentences is in the training data."""
from __future__ import annotations

from pathlib import Path

from rasa.shared.nlu.training_data.loading import load_data

ROOT = Path(__file__).resolve().parents[2]


def sentences(paths: list[Path]) -> set[str]:
    return {" ".join(m.get("text").lower().split()) for path in paths for m in load_data(str(path)).intent_examples}


def test_no_test_or_validation_sentence_is_in_the_training_data():
    """A sentence the model trained on would make the held-out figures look better than they are."""
    held_out = sentences([ROOT / "tests/nlu/test_nlu.yml", *sorted((ROOT / "tests/nlu/heldout").glob("*.yml")),
                          *sorted((ROOT / "tests/nlu/validation").glob("*.yml"))])
    training = sentences(sorted((ROOT / "data/nlu").glob("*.yml")))
    assert sorted(held_out & training) == []


def test_validation_and_test_splits_do_not_share_sentences():
    """Thresholds are chosen on validation sentences that the test split does not contain."""
    test = sentences(sorted((ROOT / "tests/nlu/heldout").glob("*.yml")))
    validation = sentences(sorted((ROOT / "tests/nlu/validation").glob("*.yml")))
    assert sorted(test & validation) == []
