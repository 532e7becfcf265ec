"""Schemathesis against openapi/management.yaml and a real `rasa run`: no 5xx, no response off the schema.

Up to 50 generated requests per operation (valid and invalid input), against the whole stack with
some traffic in it, so lists are not empty. Every response must be documented (status, media type,
schema, headers), invalid input must get a 4xx, and a request without the token must be refused.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth, negative_data_rejection,
                                               response_headers_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.management.operator_stack import Operator, eventually, operator_stack

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "management.yaml"
MAX_EXAMPLES = 50
CONFIG = SchemathesisConfig.from_dict({
    # The token goes in every request as a header of ours, so generated data leaves Authorization alone.
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none", "deterministic": True,
                   "with-security-parameters": False},
    "phases": {"stateful": {"enabled": False}},
})
# Everything about our answers. Not `unsupported_method`: a method no route has (TRACE /send) is
# answered by Sanic itself, whose 21.12 JSON error page drops the Allow header; and not
# `positive_data_acceptance`: valid input is rightly refused when, say, the number never wrote (409).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection, ignored_auth]
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)
ASHA, RAVI = "919800000001", "919800000002"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    """The real stack with a conversation and a waiting handoff in its tables, so lists are not empty."""
    with operator_stack(tmp_path_factory.mktemp("conformance"), {"NOTIFY_SCAN_SECONDS": "1"}) as running:
        whatsapp = running.whatsapp
        whatsapp.say(ASHA, "hi")
        whatsapp.say(RAVI, "I want to talk to a person")
        whatsapp.graph.wait_for(ASHA, 2)
        whatsapp.graph.wait_for(RAVI, 2)
        eventually(lambda: running.call("GET", "/handoffs")[1]["handoffs"], what="a waiting handoff")
        yield running


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_conforms_to_its_openapi_file(case, live):
    """Each generated request gets a documented answer, never a server error."""
    case.call_and_validate(base_url=live.api_url, headers={"Authorization": f"Bearer {live.token}"},
                           checks=CHECKS, timeout=30)
