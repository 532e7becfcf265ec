"""Every documented operation needs the bearer token, the API is off without one, and the file matches the routes."""
from __future__ import annotations

import re

import pytest
from yarl import URL

from tests.management.conftest import ASHA, TOKEN, add_contact, operations, outbox_rows

OPERATIONS = operations()
SECURED = [(method, path) for method, path, secured in OPERATIONS if secured]
PUBLIC = [(method, path) for method, path, secured in OPERATIONS if not secured]
BAD_HEADERS = {
    "missing": {},
    "wrong_token": {"Authorization": "Bearer not-the-management-token"},
    "token_prefix": {"Authorization": f"Bearer {TOKEN[:-1]}"},
    "no_scheme": {"Authorization": TOKEN},
    "basic_scheme": {"Authorization": f"Basic {TOKEN}"},
    "empty_bearer": {"Authorization": "Bearer "},
}


def concrete(path: str) -> str:
    """Fill the path parameters with real values."""
    return path.replace("{wa_id}", ASHA).replace("{asset}", "js/dashboard.js")


def test_the_file_documents_every_operation_it_should():
    """The OpenAPI file lists the brief's endpoints, handoff, analytics and the dashboard."""
    assert {(m, p) for m, p, _ in OPERATIONS} == {
        ("POST", "/send"), ("GET", "/messages"), ("GET", "/contacts"), ("GET", "/health"),
        ("GET", "/metrics"), ("GET", "/handoffs"), ("POST", "/handoffs/{wa_id}/reply"),
        ("POST", "/handoffs/{wa_id}/release"), ("GET", "/analytics"), ("GET", "/dashboard"),
        ("GET", "/dashboard/{asset}")}
    assert PUBLIC == [("GET", "/dashboard"), ("GET", "/dashboard/{asset}")]


@pytest.mark.asyncio
async def test_the_server_serves_exactly_the_documented_operations(api):
    """The routes Sanic registered under /api/whatsapp are the OpenAPI file's, no more, no fewer."""
    served = set()
    for route in api.app.router.routes:
        path = "/" + re.sub(r"<(\w+):[^>]+>", r"{\1}", route.path)
        for method in route.methods - {"HEAD", "OPTIONS"}:
            served.add((method, path.removeprefix("/api/whatsapp")))
    assert served == {(m, p) for m, p, _ in OPERATIONS}


@pytest.mark.parametrize("headers", list(BAD_HEADERS.values()), ids=list(BAD_HEADERS))
@pytest.mark.parametrize(("method", "path"), SECURED, ids=[f"{m} {p}" for m, p in SECURED])
@pytest.mark.asyncio
async def test_every_operation_refuses_a_missing_or_wrong_token(api, method, path, headers):
    """Without the right bearer token every operation answers 401 unauthorized and does nothing."""
    add_contact(ASHA, last_inbound_at=None)
    body = {"to": ASHA, "template": {"name": "order_update"}} if method == "POST" else None
    async with api.http.request(method, api.url + concrete(path), json=body, headers=headers) as response:
        assert (response.status, await response.json()) == (401, {"error": "unauthorized"})
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert outbox_rows() == []


@pytest.mark.parametrize(("method", "path"), SECURED, ids=[f"{m} {p}" for m, p in SECURED])
@pytest.mark.asyncio
async def test_the_token_opens_every_operation(api, method, path):
    """With the token no operation answers 401 (or a server error)."""
    status, _ = await api.call(method, concrete(path), body={"text": "hello"} if method == "POST" else None)
    assert status != 401 and status < 500 or status == 503


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS],
                         ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
@pytest.mark.asyncio
async def test_without_a_configured_token_the_api_is_off(api_off, method, path):
    """No MANAGEMENT_API_TOKEN: every route, the dashboard too, answers 404 api_disabled, token or not."""
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        status, body = await api_off.call(method, concrete(path), headers=headers)
        assert (status, body["error"]) == (404, "api_disabled")


@pytest.mark.asyncio
async def test_the_dashboard_page_and_files_need_no_token(api):
    """The page (which asks for the token) and its script load without one; a path outside static/ does not."""
    status, page = await api.call("GET", "/dashboard", headers={})
    assert status == 200 and "<html" in page
    async with api.http.get(api.url + "/dashboard/js/dashboard.js") as response:
        assert response.status == 200 and "javascript" in response.content_type
    for escape in ("..%2Fchannel.py", "%2e%2e/%2e%2e/inputs.py", "css/..%2F..%2Fchannel.py", "nope.js"):
        async with api.http.get(URL(api.url + "/dashboard/" + escape, encoded=True)) as response:
            assert response.status == 404, escape
            assert (await response.json())["error"] == "not_found"
