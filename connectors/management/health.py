"""Readiness of everything a customer's message depends on: database, model, action server, queue."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

import aiohttp
from sqlalchemy.exc import SQLAlchemyError
from yarl import URL

from connectors.management.history import queue_depth

logger = logging.getLogger(__name__)

ACTION_SERVER_TIMEOUT_SECONDS = 2.0


async def report(agent: Any, timeout: float = ACTION_SERVER_TIMEOUT_SECONDS) -> tuple[bool, dict[str, Any]]:
    """Return (healthy, body); the body has the same shape whether healthy or not."""
    queue, actions = await asyncio.gather(_queue(), _action_server(agent, timeout))
    model_ok = bool(agent is not None and agent.is_ready())
    checks = {
        "database": {"ok": queue is not None, "error": None if queue is not None else "unavailable"},
        "model": {"ok": model_ok, "error": None if model_ok else "not_loaded"},
        "action_server": actions,
        # Informational: a deep queue is worth a look but does not make the assistant unavailable.
        "outbound_queue": {"ok": queue is not None, "depth": queue},
    }
    healthy = all(checks[name]["ok"] for name in ("database", "model", "action_server"))
    return healthy, {"status": "ok" if healthy else "unavailable", "checks": checks}


def action_health_url(agent: Any) -> Optional[str]:
    """Return the action server's /health URL from the agent's action endpoint, or None."""
    endpoint = getattr(agent, "action_endpoint", None)
    url = getattr(endpoint, "url", None)
    if not url:
        return None
    return str(URL(url).with_path("/health").with_query(None))


async def _queue() -> Optional[int]:
    """Return the outbound queue depth, or None if the database cannot answer."""
    try:
        return await asyncio.to_thread(queue_depth)
    except SQLAlchemyError as exc:
        logger.warning("management.health.database_failed error=%s", type(exc).__name__)
        return None


async def _action_server(agent: Any, timeout: float) -> dict[str, Any]:
    """GET the action server's /health with a short timeout."""
    url = action_health_url(agent)
    if url is None:
        return {"ok": False, "status_code": None, "error": "not_configured"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url) as response:
                ok = response.status == 200
                return {"ok": ok, "status_code": response.status, "error": None if ok else "bad_status"}
    except asyncio.TimeoutError:
        return {"ok": False, "status_code": None, "error": "timeout"}
    except aiohttp.ClientError:
        return {"ok": False, "status_code": None, "error": "unreachable"}
