"""First in the pipeline: every channel's text is cleaned (components/text.py) before any pattern runs.

The WhatsApp worker cleans its text too; this covers the REST channel, `rasa shell` and `rasa test`.
Only a text that cleaning changes is rewritten, so entity offsets of ordinary messages stay exact.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.text import clean_text


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class TextCleaner(GraphComponent):
    """Drop invisible characters, collapse whitespace and cap the length of each message's text."""

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> GraphComponent:
        """Create the component; it has nothing to train."""
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leave training data as written (its entity offsets point into the text as it is)."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Clean each message's text in place."""
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str):
                cleaned = clean_text(text)
                if cleaned != text:
                    message.set(TEXT, cleaned)
        return messages
