"""RulePolicy that follows a typed option number the way a tap would be followed.

At run time ``NumberedChoiceResolver`` already rewrites "2" into the tapped
button's intent, so this policy only sees ``choose_option`` when the number
could not be resolved. In ``rasa test`` the NLU step runs without the
conversation, so test stories keep ``choose_option``; here the policy looks up
the buttons the last menu offered and predicts as if that button was tapped.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import PolicyPrediction
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.core.training_data.story_reader.yaml_story_reader import (
    YAMLStoryReader,
)
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.choices import (
    CHOICE_INTENT,
    OPTION_ENTITY,
    last_offered_buttons,
    parse_choice,
    payload_for,
)

# Rasa's validator looks for RulePolicy by identity, not subclass; the
# restart/back behaviour it warns about is inherited and works.
warnings.filterwarnings("ignore", message="'RulePolicy' is not included")


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITH_END_TO_END_SUPPORT, is_trainable=True
)
class NumberedChoiceRulePolicy(RulePolicy):
    """Rules, with typed option numbers read as taps on the last menu."""

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        """Predict on the tracker with an unresolved choice replaced by the tap."""
        resolved = _tracker_with_choice_resolved(tracker, domain)
        return super().predict_action_probabilities(
            resolved or tracker, domain, rule_only_data, **kwargs
        )


def _tracker_with_choice_resolved(
    tracker: DialogueStateTracker, domain: Domain
) -> Optional[DialogueStateTracker]:
    latest = tracker.latest_message
    if latest is None or latest.intent_name != CHOICE_INTENT or tracker.active_loop_name:
        return None
    option = _option_of(latest)
    events: List[Event] = list(tracker.events)
    index = max(i for i, e in enumerate(events) if isinstance(e, UserUttered))
    payload = payload_for(last_offered_buttons(events[:index], domain.responses), option or 0)
    if not payload:
        return None
    chosen = YAMLStoryReader.unpack_regex_message(Message({TEXT: payload}), domain)
    if chosen.get(INTENT) is None:
        return None
    events[index] = UserUttered(
        text=latest.text,
        intent=chosen.get(INTENT),
        entities=chosen.get(ENTITIES) or [],
        timestamp=latest.timestamp,
        input_channel=latest.input_channel,
        message_id=latest.message_id,
    )
    return DialogueStateTracker.from_events(
        tracker.sender_id, events, slots=list(domain.slots), domain=domain
    )


def _option_of(message: UserUttered) -> Optional[int]:
    for entity in message.entities or []:
        if entity.get("entity") == OPTION_ENTITY:
            try:
                return int(entity.get("value"))
            except (TypeError, ValueError):
                return None
    return parse_choice(message.text or "")
