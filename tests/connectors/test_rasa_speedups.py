"""The prebuilt check of action server replies accepts and refuses exactly what Rasa's own does."""
from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from connectors import rasa_speedups

VALID = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "order_id", "value": "ORD-10001", "timestamp": None}],
     "responses": [{"text": "Order ORD-10001", "buttons": [{"title": "Menu", "payload": "/menu"}]}]},
    {"events": [{"event": "followup", "name": "action_listen"}], "responses": [{"template": "utter_menu"}]},
]
INVALID = [
    {"events": "not a list", "responses": []},
    {"events": [{"no_event_key": 1}], "responses": []},
    {"events": [{"event": "slot", "name": 3}], "responses": []},
    {"events": [], "responses": "nope"},
]


def rasa_original(result):
    """Rasa 3.6's check: jsonschema.validate with the schema re-checked on every call."""
    jsonschema.validate(result, RemoteAction.action_response_format_spec())


@pytest.fixture
def action():
    """A remote action with the prebuilt check installed."""
    rasa_speedups.install()
    return RemoteAction("action_anything", EndpointConfig("http://127.0.0.1:1/webhook"))


@pytest.mark.parametrize("result", VALID)
def test_valid_replies_pass_both_checks(action, result):
    rasa_original(result)
    assert action._validate_action_result(result) is True


@pytest.mark.parametrize("result", INVALID)
def test_invalid_replies_fail_with_rasas_error_and_hint(action, result):
    with pytest.raises(jsonschema.ValidationError) as original:
        rasa_original(result)
    with pytest.raises(jsonschema.ValidationError) as ours:
        action._validate_action_result(result)
    assert ours.value.message.startswith(original.value.message)
    assert "Failed to validate Action server response from API" in ours.value.message
    assert list(ours.value.path) == list(original.value.path)
