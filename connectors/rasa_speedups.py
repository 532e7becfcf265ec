"""A faster check of the action server's replies, with the same outcome as Rasa's own.

Rasa 3.6 checks every reply of the action server with `jsonschema.validate(result, spec)`, which
first validates the (constant) schema against its meta-schema: 19 ms per action call measured here,
a third of a short turn's CPU, against 0.3 ms for a validator built once. `install()` swaps in a
check with a validator built once for the same schema and the same error (the best match, with
Rasa's hint appended). Idempotent; does nothing if Rasa's method is not where 3.6 has it.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Text

import jsonschema
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

_HINT = (". Failed to validate Action server response from API, make sure your response from the Action "
         f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions")


@lru_cache(maxsize=1)
def _validator() -> Any:
    """Build the validator for Rasa's action response schema once (checking the schema once)."""
    spec = RemoteAction.action_response_format_spec()
    cls = jsonschema.validators.validator_for(spec)
    cls.check_schema(spec)
    return cls(spec)


def validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    """Return True for a valid reply; raise jsonschema's ValidationError as Rasa does otherwise."""
    error = best_match(_validator().iter_errors(result))
    if error is not None:
        error.message += _HINT
        raise error
    return True


def install() -> None:
    """Use the prebuilt validator in Rasa's RemoteAction."""
    if callable(getattr(RemoteAction, "_validate_action_result", None)):
        RemoteAction._validate_action_result = validate_action_result  # type: ignore[assignment]
