"""Scale each featurizer's sentence vector to one length before the intent classifier sees it.

A CountVectorsFeaturizer's sentence vector is the sum of its tokens' counts, so a long message
(a complaint told as a story) has a vector many times longer than a short one, and the logistic
regression turns that length into extreme confidence. One length per featurizer (as TF-IDF
pipelines do) keeps what the words say and drops how many there were. Sequence features are left
alone. Everything after it sees the scaled vectors: the logistic regression and the ResponseSelector.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.preprocessing import normalize


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceFeatureScaler(GraphComponent):
    """Scale every sparse sentence feature of the text to `length` (L2), one featurizer at a time."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Return the default length (the logistic regression's regularisation is fixed, so the scale sets its strength)."""
        return {"length": 1.0}

    def __init__(self, length: float) -> None:
        """Keep the length every vector is scaled to."""
        self.length = length

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> GraphComponent:
        """Create the component; it has nothing to train."""
        return cls(float(config["length"]))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Scale the training examples the same way as messages at run time."""
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Give each message scaled sentence features (new feature objects on the same message)."""
        for message in messages:
            message.features = [self._scaled(feature) for feature in message.features]
            # Rasa keeps a message's fingerprint once computed; without this the training cache
            # would see the unscaled features and reuse a classifier trained on them.
            message._cached_fingerprint = None
        return messages

    def _scaled(self, feature: Features) -> Features:
        """Return a new sentence feature at the configured length (a new object: no cached fingerprint)."""
        if feature.attribute != TEXT or feature.type != FEATURE_TYPE_SENTENCE or not feature.is_sparse():
            return feature
        scaled = normalize(feature.features.astype(float), norm="l2") * self.length
        return Features(scaled.tocoo(), feature.type, feature.attribute, feature.origin)
