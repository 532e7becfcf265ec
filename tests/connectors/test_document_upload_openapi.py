"""Schemathesis against the upload route's part of openapi/data.yaml on a real server: no 5xx, no answer off the schema.

The whole data API, this route included, is also checked over the real stack in tests/data/.
"""
from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sanic import Blueprint, Sanic
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)

from database.seed import seed
from database.session import reset_engine
from connectors.document_upload import mount
from tests.connectors.test_document_upload import TOKEN, free_port, guard
from tests.connectors.whatsapp_support import migrate

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "data.yaml"
MAX_EXAMPLES = 60
CONFIG = SchemathesisConfig.from_dict({
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none", "deterministic": True,
                   "with-security-parameters": False},
    "phases": {"stateful": {"enabled": False}},
})
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG).include(operation_id="put_order_document")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the route under /api/data from its own thread over a seeded SQLite file."""
    workdir = tmp_path_factory.mktemp("documents-api")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", f"sqlite:///{workdir / 'assistant.db'}")
        patch.setenv("DOCUMENTS_DIR", str(workdir / "documents"))
        patch.setenv("DOCUMENTS_MAX_BYTES", "200000")
        patch.setattr(Sanic, "test_mode", True)
        reset_engine()
        migrate(f"sqlite:///{workdir / 'assistant.db'}")
        seed()
        app = Sanic(f"documents_api_{uuid.uuid4().hex}")
        app.config.REQUEST_MAX_SIZE = 3 * 1024 * 1024
        blueprint = Blueprint("data_api_test", url_prefix="/api/data")
        mount(blueprint, guard)
        app.blueprint(blueprint)
        port = free_port()
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True,
                                                           access_log=False))
        loop.run_until_complete(server.startup())
        loop.run_until_complete(server.before_start())
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{port}/api/data"
        finally:
            loop.call_soon_threadsafe(server.close)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            reset_engine()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_upload_route_conforms_to_its_openapi_file(case, base_url):
    """Each generated upload gets a documented answer, never a server error."""
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS,
                           timeout=30)
