"""Weight and scale each featurizer's sentence vector before the intent classifier sees it (TF-IDF).

A CountVectorsFeaturizer's sentence vector is the sum of its tokens' counts. Used raw, a long message
(a complaint told as a story) has a vector many times longer than a short one and the logistic
regression turns that length into extreme confidence, while words that every intent uses ("pls",
"my", "order") weigh as much as the ones that decide it ("invoice", "torn"). So, per featurizer, as
TF-IDF pipelines do: counts are damped (1 + log count), weighted by the inverse document frequency
learnt on the training examples, and the vector is scaled to one length. Sequence features are left
alone. Everything after it sees the new vectors: the logistic regression and the ResponseSelector.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.preprocessing import normalize

IDF_FILE = "idf.npz"


def is_sentence_text(feature: Features) -> bool:
    """Return whether the feature is a sparse sentence vector of the message text (the one scaled)."""
    return feature.attribute == TEXT and feature.type == FEATURE_TYPE_SENTENCE and feature.is_sparse()


def inverse_document_frequency(counts: scipy.sparse.spmatrix) -> np.ndarray:
    """Return smoothed idf per column of a (messages x terms) count matrix, as scikit-learn computes it."""
    documents = counts.shape[0]
    frequency = np.asarray((counts > 0).sum(axis=0)).ravel()
    return np.log((1.0 + documents) / (1.0 + frequency)) + 1.0


def weighted(counts: scipy.sparse.spmatrix, idf: Optional[np.ndarray], length: float) -> scipy.sparse.csr_matrix:
    """Return damped counts times idf (when given), scaled to `length` (L2); an empty vector stays empty.

    Raise ValueError if the idf has another width than the vector: the featurizer and the idf then
    come from different trainings, and weighting without the idf would quietly change the model.
    """
    matrix = scipy.sparse.csr_matrix(counts, dtype=float, copy=True)
    if idf is not None:
        if idf.shape[0] != matrix.shape[1]:
            raise ValueError(f"the sentence vector has {matrix.shape[1]} terms but the stored idf has "
                             f"{idf.shape[0]}: retrain the model")
        matrix.data = 1.0 + np.log(np.maximum(matrix.data, 1.0))
        matrix = matrix.multiply(idf).tocsr()
    return normalize(matrix, norm="l2") * length


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class SentenceFeatureScaler(GraphComponent):
    """Give every sparse sentence feature of the text TF-IDF weights at one length, one featurizer at a time."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Return the defaults (the logistic regression's regularisation is fixed, so the length sets its strength)."""
        return {"length": 1.0, "idf": True}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 idf: Optional[Dict[str, np.ndarray]] = None) -> None:
        """Keep the length, whether to weight by idf, and the idf learnt per featurizer (by feature origin)."""
        self.length = float(config["length"])
        self.use_idf = bool(config["idf"])
        self.idf: Dict[str, np.ndarray] = idf or {}
        self._model_storage = model_storage
        self._resource = resource

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> GraphComponent:
        """Create an untrained scaler."""
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> GraphComponent:
        """Load the idf learnt in training (none when the model was trained without it)."""
        idf: Dict[str, np.ndarray] = {}
        try:
            with model_storage.read_from(resource) as directory:
                with np.load(directory / IDF_FILE) as stored:
                    idf = {name: stored[name] for name in stored.files}
        except (ValueError, FileNotFoundError):
            pass
        return cls(config, model_storage, resource, idf)

    def train(self, training_data: TrainingData) -> Resource:
        """Learn each featurizer's idf from the training examples' sentence vectors and store it."""
        rows: Dict[str, list] = {}
        for message in training_data.training_examples:
            for feature in message.features:
                if is_sentence_text(feature):
                    rows.setdefault(_origin(feature), []).append(scipy.sparse.csr_matrix(feature.features))
        self.idf = {origin: inverse_document_frequency(scipy.sparse.vstack(matrices))
                    for origin, matrices in rows.items()} if self.use_idf else {}
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / IDF_FILE, **self.idf)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Weight the training examples the same way as messages at run time."""
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Give each message weighted sentence features (new feature objects on the same message)."""
        for message in messages:
            message.features = [self._weighted(feature) for feature in message.features]
            # Rasa keeps a message's fingerprint once computed; without this the training cache
            # would see the unweighted features and reuse a classifier trained on them.
            message._cached_fingerprint = None
        return messages

    def _weighted(self, feature: Features) -> Features:
        """Return a new sentence feature, weighted and scaled (a new object: no cached fingerprint)."""
        if not is_sentence_text(feature):
            return feature
        idf = self.idf.get(_origin(feature)) if self.use_idf else None
        scaled = weighted(feature.features, idf, self.length)
        return Features(scaled.tocoo(), feature.type, feature.attribute, feature.origin)


def _origin(feature: Features) -> str:
    """Return the featurizer that made a feature, as one string (the key of its idf)."""
    return feature.origin if isinstance(feature.origin, str) else "+".join(feature.origin)
