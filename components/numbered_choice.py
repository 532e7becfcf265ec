"""NLU components that make a typed option number behave exactly like a tap.

``NumberedChoiceRewriter`` runs first in the pipeline: when the conversation's
last buttons have an n-th option, it replaces the text "2" with that button's
payload, so every later component (and Rasa's payload handler at the end) sees
what a tap would have sent. ``NumberedChoiceTagger`` runs last: a bare number
that could not be resolved is always ``choose_option`` with an ``option``
entity, so a rule can answer "please choose 1-4" whatever the classifier said.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.choices import (
    CHOICE_INTENT,
    OPTION_ENTITY,
    choice_span,
    last_offered_buttons,
    parse_choice,
    payload_for,
)


class _Stateless(GraphComponent):
    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Create the component; it has nothing to train."""
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leave training data as it is."""
        return training_data


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False
)
class NumberedChoiceRewriter(_Stateless):
    """Replace "2" with the payload of the 2nd button the conversation last offered."""

    def process(
        self,
        messages: List[Message],
        tracker: Optional[DialogueStateTracker] = None,
        domain: Optional[Domain] = None,
    ) -> List[Message]:
        """Rewrite resolvable numbered choices in place."""
        if tracker is None:
            return messages
        responses = domain.responses if domain else {}
        for message in messages:
            option = parse_choice(message.get(TEXT) or "")
            if option is None:
                continue
            payload = payload_for(last_offered_buttons(tracker.events, responses), option)
            if payload:
                message.set(TEXT, payload)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ChoiceGuessFilter(_Stateless):
    """Right after the classifier: a message that is not a bare choice is never choose_option.

    The classifier learns choose_option from bare numbers, so it leans towards it for any message
    with digits ("quantity 500 kg se 800 kg krdo"); the next intent in its ranking is used instead,
    before the FallbackClassifier judges the confidence. Only NumberedChoiceTagger assigns it.
    """

    def process(self, messages: List[Message]) -> List[Message]:
        """Take the classifier's choose_option guess away from messages that are not bare choices."""
        for message in messages:
            if parse_choice(message.get(TEXT) or "") is None:
                _drop_choice_guess(message)
        return messages


def _drop_choice_guess(message: Message) -> None:
    """Remove choose_option from the message's intent and ranking."""
    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != CHOICE_INTENT]
    intent = message.get(INTENT) or {}
    if intent.get(INTENT_NAME_KEY) != CHOICE_INTENT:
        if len(ranking) != len(message.get(INTENT_RANKING_KEY) or []):
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return
    message.set(INTENT, dict(ranking[0]) if ranking else {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0},
                add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False
)
class NumberedChoiceTagger(_Stateless, EntityExtractorMixin):
    """Mark a bare number as ``choose_option`` with its ``option`` entity."""

    def process(self, messages: List[Message]) -> List[Message]:
        """Tag unresolved numbered choices in place."""
        for message in messages:
            text = message.get(TEXT) or ""
            option = parse_choice(text)
            if option is None:
                continue
            start, end = choice_span(text) or (0, len(text))
            message.set(
                INTENT,
                {INTENT_NAME_KEY: CHOICE_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0},
                add_to_output=True,
            )
            message.set(
                INTENT_RANKING_KEY,
                [{INTENT_NAME_KEY: CHOICE_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}],
                add_to_output=True,
            )
            message.set(
                ENTITIES,
                [
                    {
                        ENTITY_ATTRIBUTE_TYPE: OPTION_ENTITY,
                        ENTITY_ATTRIBUTE_VALUE: str(option),
                        ENTITY_ATTRIBUTE_START: start,
                        ENTITY_ATTRIBUTE_END: end,
                        EXTRACTOR: self.__class__.__name__,
                    }
                ],
                add_to_output=True,
            )
        return messages
