"""The sentence feature weighting: TF-IDF learnt in training, one length for every message, and training sees the change."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.feature_norm import SentenceFeatureScaler


def message(counts: list[int]) -> Message:
    """Return a message with one sparse sentence feature and one sequence feature."""
    msg = Message(data={TEXT: "x"})
    msg.add_features(Features(scipy.sparse.csr_matrix([counts]), FEATURE_TYPE_SENTENCE, TEXT, "counts"))
    msg.add_features(Features(scipy.sparse.csr_matrix([counts]), FEATURE_TYPE_SEQUENCE, TEXT, "counts"))
    return msg


def sentence(msg: Message) -> np.ndarray:
    """Return the message's sentence vector as a flat array."""
    return next(f for f in msg.features if f.type == FEATURE_TYPE_SENTENCE).features.toarray().ravel()


def trained(tmp_path: Path, examples: list[list[int]], length: float = 16.0) -> SentenceFeatureScaler:
    """Train a scaler on the given count vectors, then load it back from its model storage as Rasa does."""
    storage, resource = LocalModelStorage(tmp_path), Resource("scaler")
    context = ExecutionContext(GraphSchema({}), "test")
    config = {**SentenceFeatureScaler.get_default_config(), "length": length}
    SentenceFeatureScaler.create(config, storage, resource, context).train(
        TrainingData([message(counts) for counts in examples]))
    return SentenceFeatureScaler.load(config, storage, resource, context)


def test_a_long_story_and_a_short_sentence_get_vectors_of_the_same_length(tmp_path: Path):
    """Counts of a 40-word story and a 2-word sentence both come out at the configured length; sequences stay."""
    scaler = trained(tmp_path, [[12, 0, 30, 9], [1, 1, 0, 0], [0, 1, 1, 0]])
    story, short = message([12, 0, 30, 9]), message([1, 1, 0, 0])
    scaler.process([story, short])
    for msg, raw in ((story, [12, 0, 30, 9]), (short, [1, 1, 0, 0])):
        sequence = next(f for f in msg.features if f.type == FEATURE_TYPE_SEQUENCE)
        assert np.isclose(np.linalg.norm(sentence(msg)), 16.0)
        assert sequence.features.toarray().tolist() == [raw]


def test_a_word_every_example_uses_weighs_less_than_a_rare_one(tmp_path: Path):
    """Column 0 is in every training example ("pls"), column 1 in one ("invoice"): once each, the rare one weighs more."""
    scaler = trained(tmp_path, [[1, 1, 0], [1, 0, 1], [1, 0, 0], [1, 0, 1]])
    msg = message([1, 1, 0])
    scaler.process([msg])
    common, rare, _ = sentence(msg)
    assert rare > common > 0


def test_repeating_a_word_does_not_multiply_its_weight(tmp_path: Path):
    """A word said ten times counts 1 + log 10 (not 10) against a word said once, before idf and scaling."""
    scaler = trained(tmp_path, [[1, 1], [1, 1]])
    msg = message([10, 1])
    scaler.process([msg])
    repeated, once = sentence(msg)
    assert np.isclose(repeated / once, 1 + np.log(10))


def test_weighting_changes_the_fingerprint_the_training_cache_sees(tmp_path: Path):
    """Rasa caches a message's fingerprint; the scaler must clear it, or a classifier trained on other features is reused."""
    msg = message([3, 4, 0, 0])
    before = msg.fingerprint()
    trained(tmp_path, [[3, 4, 0, 0], [0, 1, 1, 0]]).process([msg])
    assert msg.fingerprint() != before


def test_a_vector_wider_than_the_stored_idf_is_refused_naming_both_widths(tmp_path: Path):
    """A featurizer whose vocabulary no longer matches the idf learnt with it (5 terms against 4) stops with
    an error that names both widths, instead of running quietly without idf."""
    scaler = trained(tmp_path, [[1, 1, 0, 0], [0, 1, 1, 0]])
    with pytest.raises(ValueError, match=r"has 5 terms but the stored idf has 4"):
        scaler.process([message([1, 0, 0, 0, 2])])
