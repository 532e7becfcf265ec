"""Answer an FAQ only when the topic is clear: an unsure FAQ retrieval becomes `nlu_fallback`.

The intent classifier may be sure that a message is *a question* (intent `faq`) while the
ResponseSelector is unsure *which* question; answering with some FAQ is then a confident wrong
answer. Runs after the FallbackClassifier and marks the message the way it does (nlu_fallback first
in the ranking, the classifier's ranking kept), so the dialogue asks back and `rasa test` can undo
it like any fallback prediction.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.fallback_classifier import _fallback_intent
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message

FAQ_INTENT = "faq"
RESPONSE_SELECTOR = "response_selector"


def faq_topic(data: Dict[str, Any]) -> Tuple[str, float]:
    """Return the ResponseSelector's FAQ topic ("faq/<topic>", "" when absent) and its confidence for a parsed message."""
    selected = ((data.get(RESPONSE_SELECTOR) or {}).get(FAQ_INTENT) or {}).get("response") or {}
    return str(selected.get("intent_response_key") or ""), float(selected.get(PREDICTED_CONFIDENCE_KEY) or 0.0)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class FaqConfidenceGate(GraphComponent):
    """Turn an FAQ whose topic confidence is below `threshold` into nlu_fallback."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Return the default threshold (chosen on the validation split; see benchmarks/thresholds.py)."""
        return {"threshold": 0.5}

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Keep the threshold."""
        self.threshold = float(config["threshold"])

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> GraphComponent:
        """Create the gate; it has nothing to train."""
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        """Mark unsure FAQ answers as nlu_fallback, in place."""
        for message in messages:
            intent = message.get(INTENT) or {}
            if intent.get(INTENT_NAME_KEY) != FAQ_INTENT:
                continue
            _, confidence = faq_topic(message.data)
            if confidence >= self.threshold:
                continue
            message.data[INTENT] = _fallback_intent(confidence)
            message.data.setdefault(INTENT_RANKING_KEY, [])
            message.data[INTENT_RANKING_KEY].insert(0, _fallback_intent(confidence))
        return messages
