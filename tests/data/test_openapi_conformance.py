"""Schemathesis against openapi/data.yaml and a real `rasa run`: no 5xx, no response off the schema.

Up to 50 generated requests per operation (valid and invalid input) against the whole stack with the
demo data in it. Every response must be documented (status, media type, schema, headers), invalid
input must get a 4xx, and a request without the token must be refused with 401.
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

from tests.data.data_stack import DataStack, data_stack

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "data.yaml"
MAX_EXAMPLES = 50
CONFIG = SchemathesisConfig.from_dict({
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none", "deterministic": True,
                   "with-security-parameters": False},
    "phases": {"stateful": {"enabled": False}},
})
# As for the management API (tests/management/test_openapi_conformance.py): not `unsupported_method`
# (Sanic answers unknown methods itself) and not `positive_data_acceptance` (valid-looking rows are
# rightly refused when, say, their company does not exist: 422).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection, ignored_auth]
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataStack]:
    """The real stack with the demo data (companies, contacts, orders, runs, defects to read)."""
    with data_stack(tmp_path_factory.mktemp("data-conformance"), {"NOTIFY_SCAN_SECONDS": "0"}) as running:
        yield running


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_data_api_conforms_to_its_openapi_file(case, live):
    """Each generated request gets a documented answer, never a server error."""
    case.call_and_validate(base_url=live.api_url, headers={"Authorization": f"Bearer {live.token}"},
                           checks=CHECKS, timeout=30)


@pytest.mark.parametrize("method, path", [(m.upper(), p) for p, item in schema.raw_schema["paths"].items()
                                          for m in item if m in ("get", "put")])
def test_every_route_refuses_missing_and_staff_credentials(live, method, path):
    """Without a token every route answers 401; with the operators' token or a staff session, 403."""
    concrete = path.replace("{ref}", "ORD-10001").replace("{wa_id}", "919800000001")
    body = {"rows": [{"ref": "X", "name": "Y"}]} if method == "PUT" else None
    assert live.call(method, concrete, body, headers={})[0] == 401
    staff_token = {"Authorization": f"Bearer {live.operator.token}"}
    assert live.call(method, concrete, body, headers=staff_token) == (403, {
        "error": "forbidden", "detail": "staff credentials cannot use the data API; send the data token (DATA_API_TOKEN)"})
    assert live.call(method, concrete, body, headers={"Cookie": "staff_session=someone"})[0] == 403
