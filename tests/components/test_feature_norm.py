"""The sentence feature scaler: every message's sentence vector has the same length, and training sees the change."""
from __future__ import annotations

import numpy as np
import scipy.sparse
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message

from components.feature_norm import SentenceFeatureScaler


def message(counts: list[int]) -> Message:
    """Return a message with one sparse sentence feature and one sequence feature."""
    msg = Message(data={TEXT: "x"})
    msg.add_features(Features(scipy.sparse.csr_matrix([counts]), FEATURE_TYPE_SENTENCE, TEXT, "counts"))
    msg.add_features(Features(scipy.sparse.csr_matrix([counts]), FEATURE_TYPE_SEQUENCE, TEXT, "counts"))
    return msg


def test_a_long_story_and_a_short_sentence_get_vectors_of_the_same_length():
    """Counts of a 40-word story and a 2-word sentence both come out at the configured length; sequences stay."""
    story, short = message([12, 0, 30, 9]), message([1, 1, 0, 0])
    SentenceFeatureScaler(16.0).process([story, short])
    for msg, raw in ((story, [12, 0, 30, 9]), (short, [1, 1, 0, 0])):
        sentence, sequence = (next(f for f in msg.features if f.type == kind)
                              for kind in (FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE))
        assert np.isclose(scipy.sparse.linalg.norm(sentence.features), 16.0)
        assert sequence.features.toarray().tolist() == [raw]


def test_scaling_changes_the_fingerprint_the_training_cache_sees():
    """Rasa caches a message's fingerprint; the scaler must clear it, or a classifier trained on other features is reused."""
    msg = message([3, 4, 0, 0])
    before = msg.fingerprint()
    SentenceFeatureScaler(16.0).process([msg])
    assert msg.fingerprint() != before
