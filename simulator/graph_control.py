"""Test knobs of the Graph API stand-in, served under /_test/ next to Meta's routes.

GET /_test/messages[?to=], GET /_test/requests, POST /_test/reset, POST /_test/fail,
POST /_test/window_closed. Local only (127.0.0.1); Meta has nothing like them. The request feed
shows headers with credentials (Authorization, tokens, secrets, signatures, cookies) redacted.
"""
from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any, Mapping

from aiohttp import web

from simulator.graph_state import STATE, Record, digits

REDACTED = "[redacted]"
CREDENTIAL_HEADER = re.compile(r"authorization|token|secret|signature|cookie|api[-_]?key|password", re.IGNORECASE)


def add_control_routes(app: web.Application) -> None:
    """Serve the /_test/ knobs from an app that already has the stand-in's state."""
    app.router.add_get("/_test/messages", _test_messages)
    app.router.add_get("/_test/requests", _test_requests)
    app.router.add_post("/_test/reset", _test_reset)
    app.router.add_post("/_test/fail", _test_fail)
    app.router.add_post("/_test/window_closed", _test_window_closed)


async def _test_messages(request: web.Request) -> web.Response:
    """List accepted sends, optionally only those `?to=` one number."""
    return web.json_response({"messages": request.app[STATE].sent(request.query.get("to"))})


async def _test_requests(request: web.Request) -> web.Response:
    """List every recorded request, accepted and rejected."""
    return web.json_response({"requests": [shown(r) for r in request.app[STATE].records]})


def shown(record: Record) -> dict[str, Any]:
    """Return a recorded request as the test feed shows it: credentials in its headers redacted."""
    return {**asdict(record), "headers": redact_headers(record.headers)}


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers with the value of every credential-bearing one replaced by REDACTED."""
    return {name: REDACTED if CREDENTIAL_HEADER.search(name) else value for name, value in headers.items()}


async def _test_reset(request: web.Request) -> web.Response:
    """Forget everything."""
    request.app[STATE].reset()
    return web.json_response({"status": "ok"})


async def _test_fail(request: web.Request) -> web.Response:
    """Set knobs from JSON: next, status, code, rate, latency_ms, hang_next, hang_seconds, scope, seed."""
    state = request.app[STATE]
    cfg = await request.json()
    if "next" in cfg:  # a new "fail next N" replaces the previous code and status
        cfg = {"code": None, "status": 500, **cfg}
    keys = {"next": "fail_next", "status": "fail_status", "code": "fail_code", "rate": "fail_rate",
            "latency_ms": "latency_ms", "hang_next": "hang_next", "hang_seconds": "hang_seconds",
            "scope": "scope"}
    for key, attr in keys.items():
        if key in cfg:
            setattr(state.knobs, attr, cfg[key])
    if "seed" in cfg:
        state.rng.seed(cfg["seed"])
    return web.json_response({"knobs": asdict(state.knobs)})


async def _test_window_closed(request: web.Request) -> web.Response:
    """Make free-form sends to these wa_ids fail with 131047 (templates still pass)."""
    state = request.app[STATE]
    state.closed_windows = {digits(w) for w in (await request.json()).get("wa_ids", [])}
    return web.json_response({"wa_ids": sorted(state.closed_windows)})
