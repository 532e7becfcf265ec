"""The management API as a Rasa input channel, mounted by `rasa run` at /api/whatsapp.

Every route answers JSON. With no MANAGEMENT_API_TOKEN the routes stay registered and answer 404
`api_disabled`; otherwise each needs `Authorization: Bearer <token>` (401 `unauthorized`), except the
dashboard page and its files, which hold no data (the page asks for the token and sends it).
Bad input gets 400 with a stable code, refusals 409. The listeners run the idle hand-back and the
notification scanner. Routes and schemas: openapi/management.yaml.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import logging
import mimetypes
import re
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from database.clock import utcnow
from database.session import engine
from connectors.management import handoff, health, history, inputs, metrics, notify, outbound
from connectors.management.config import ManagementConfig
from connectors.management.inputs import BadRequest
from connectors.management.outbound import Refused

logger = logging.getLogger(__name__)

URL_PREFIX = "/api/whatsapp"
STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSET = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")  # no "..", no absolute path
MAX_ASSET_LENGTH = 200
MESSAGES_LIMIT, CONTACTS_LIMIT, HANDOFFS_LIMIT = (50, 200), (50, 200), (100, 500)  # (default, maximum)
Handler = Callable[..., Awaitable[HTTPResponse]]


def authorized(header: Optional[str], token: str) -> bool:
    """Return True if the Authorization header carries the token as a bearer (constant time)."""
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Equal-length digests, so not even the token's length shows in the timing.
    return hmac.compare_digest(hashlib.sha256(value.strip().encode()).digest(),
                               hashlib.sha256(token.encode()).digest())


class ManagementInput(InputChannel):
    """Operator API: send, history, contacts, health, metrics, handoff, analytics and the dashboard."""

    @classmethod
    def name(cls) -> Text:
        """Return the channel name."""
        return "management"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """Build the channel from the environment; the credentials block stays empty."""
        return cls(ManagementConfig.from_env())

    def __init__(self, config: ManagementConfig) -> None:
        """Args:
            config: settings from the environment (ManagementConfig.from_env), the API token included.
        """
        self.config = config
        self._tasks: list[asyncio.Task] = []

    def url_prefix(self) -> Text:
        """Return /api/whatsapp (Rasa joins it onto /webhooks/, and an absolute path wins)."""
        return URL_PREFIX

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Return the API routes and the listeners that run hand-back and notifications."""
        api = Blueprint("management_api", __name__)
        guard, public = self._guard, self._public

        @api.listener("after_server_start")
        async def start_jobs(_app: Sanic, _loop: Any) -> None:
            self.start()

        @api.listener("before_server_stop")
        async def stop_jobs(_app: Sanic, _loop: Any) -> None:
            await self.stop()

        @api.route("/send", methods=["POST"])
        @guard
        async def send(request: Request) -> HTTPResponse:
            wanted = inputs.send_request(inputs.json_object(request.body))
            row_id = await asyncio.to_thread(outbound.send, wanted, self.config.marketing_templates)
            kind = "template" if wanted.template is not None else "text"
            return response.json({"id": row_id, "status": "queued", "to": wanted.to, "kind": kind}, status=202)

        @api.route("/messages", methods=["GET"])
        @guard
        async def messages(request: Request) -> HTTPResponse:
            query = _query(request)
            wa_id = inputs.wa_id_of(query.get("wa_id"))
            limit = inputs.limit_of(query, *MESSAGES_LIMIT)
            before = inputs.decode_cursor(query.get("before"), (datetime, int, int), "before")
            if before is not None and before[1] not in (history.IN, history.OUT):
                raise BadRequest("invalid_cursor", "before must be a cursor returned by a previous page")
            page = await asyncio.to_thread(history.messages, wa_id, limit, before)
            return response.json({"wa_id": wa_id, "messages": page.items, "next_before": page.next_cursor})

        @api.route("/contacts", methods=["GET"])
        @guard
        async def contacts(request: Request) -> HTTPResponse:
            query = _query(request)
            limit = inputs.limit_of(query, *CONTACTS_LIMIT)
            after = inputs.decode_cursor(query.get("cursor"), (datetime, str), "cursor")
            page = await asyncio.to_thread(history.contacts_page, limit, after)
            return response.json({"contacts": page.items, "next_cursor": page.next_cursor})

        @api.route("/health", methods=["GET"])
        @guard
        async def health_check(request: Request) -> HTTPResponse:
            healthy, body = await health.report(getattr(request.app.ctx, "agent", None))
            return response.json(body, status=200 if healthy else 503)

        @api.route("/metrics", methods=["GET"])
        @guard
        async def prometheus(_: Request) -> HTTPResponse:
            text = await asyncio.to_thread(metrics.render)
            return response.text(text, content_type=metrics.CONTENT_TYPE)

        @api.route("/handoffs", methods=["GET"])
        @guard
        async def handoffs(request: Request) -> HTTPResponse:
            limit = inputs.limit_of(_query(request), *HANDOFFS_LIMIT)
            waiting = await asyncio.to_thread(handoff.waiting, limit)
            return response.json({"handoffs": [_handoff_item(w) for w in waiting]})

        @api.route("/handoffs/<wa_id:str>/reply", methods=["POST"])
        @guard
        async def handoff_reply(request: Request, wa_id: str) -> HTTPResponse:
            number = inputs.wa_id_of(wa_id)
            text = inputs.text_of(inputs.json_object(request.body))
            row_id = await asyncio.to_thread(handoff.reply, number, text)
            if row_id is None:
                return _error("handoff_not_found", 404, "no conversation with this number waits for a person")
            return response.json({"id": row_id, "status": "queued", "to": number, "kind": "text"}, status=202)

        @api.route("/handoffs/<wa_id:str>/release", methods=["POST"])
        @guard
        async def handoff_release(_: Request, wa_id: str) -> HTTPResponse:
            number = inputs.wa_id_of(wa_id)
            note_id = await asyncio.to_thread(handoff.release, number, "staff")
            if note_id is None:
                return _error("handoff_not_found", 404, "no conversation with this number waits for a person")
            return response.json({"wa_id": number, "state": "released", "note_id": note_id})

        @api.route("/analytics", methods=["GET"])
        @guard
        async def analytics(request: Request) -> HTTPResponse:
            since, until = inputs.window_of(_query(request), utcnow())
            return await self._analytics(getattr(request.app.ctx, "agent", None), since, until)

        @api.route("/dashboard", methods=["GET"])
        @public
        async def dashboard(_: Request) -> HTTPResponse:
            return await _static("index.html")

        @api.route("/dashboard/<asset:path>", methods=["GET"])
        @public
        async def dashboard_asset(_: Request, asset: str) -> HTTPResponse:
            return await _static(asset)

        return api

    def start(self) -> None:
        """Start the idle hand-back and, unless NOTIFY_SCAN_SECONDS is 0, the notification scanner."""
        self._tasks.append(asyncio.create_task(handoff.IdleHandBack(self.config.handoff_idle_minutes).run()))
        if self.config.notify_scan_seconds > 0:
            self._tasks.append(asyncio.create_task(notify.Notifier(self.config).run()))
        logger.info("management.jobs.started api=%s", "on" if self.config.api_enabled else "off")

    async def stop(self) -> None:
        """Cancel the background jobs and wait for them."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _analytics(self, agent: Any, since: Any, until: Any) -> HTTPResponse:
        """Return analytics.compute() for the window, or 503 when it cannot run here."""
        try:
            from connectors.management.analytics import compute
        except ImportError:
            return _error("analytics_unavailable", 503, "the analytics module is not installed")
        tracker_url = self.config.tracker_db_url or tracker_db_url(agent)
        if tracker_url is None:
            return _error("analytics_unavailable", 503, "analytics needs Rasa's SQL tracker store")
        if inspect.iscoroutinefunction(compute):
            result = await compute(engine(), since, until, tracker_url)
        else:
            result = await asyncio.to_thread(compute, engine(), since, until, tracker_url)
        return response.json(result)

    def _guard(self, handler: Handler) -> Handler:
        """Wrap a handler: API switched on, bearer token, and input errors as JSON 4xx."""
        return self._wrap(handler, public=False)

    def _public(self, handler: Handler) -> Handler:
        """Wrap a handler that needs no token (the dashboard's files), but only while the API is on."""
        return self._wrap(handler, public=True)

    def _wrap(self, handler: Handler, public: bool) -> Handler:
        """Return the handler behind the API switch, the token check and the error mapping."""
        @wraps(handler)
        async def guarded(request: Request, **kwargs: Any) -> HTTPResponse:
            if not self.config.api_enabled:
                return _error("api_disabled", 404, "set MANAGEMENT_API_TOKEN to switch the API on")
            if not public and not authorized(request.headers.get("authorization"), self.config.api_token or ""):
                logger.info("management.api.unauthorized route=%s", handler.__name__)
                return _error("unauthorized", 401, headers={"WWW-Authenticate": 'Bearer realm="management"'})
            try:
                return await handler(request, **kwargs)
            except BadRequest as exc:
                return _error(exc.code, 400, exc.detail)
            except Refused as exc:
                return _error(exc.code, 409, hint=exc.hint)
            except SQLAlchemyError as exc:
                logger.error("management.api.database_failed route=%s error=%s", handler.__name__,
                             type(exc).__name__)
                logger.debug("management.api.database_failed traceback", exc_info=exc)
                return _error("database_unavailable", 503)
        return guarded


def tracker_db_url(agent: Any) -> Optional[str]:
    """Return the URL of the agent's SQL tracker store (unwrapping Rasa's wrappers), or None."""
    store = getattr(agent, "tracker_store", None)
    for _ in range(5):
        if store is None:
            return None
        sql_engine = getattr(store, "engine", None)
        if sql_engine is not None:
            return sql_engine.url.render_as_string(hide_password=False)
        store = getattr(store, "_tracker_store", None)
    return None


def _query(request: Request) -> Any:
    """Return the query parameters, blank ones included (`?cursor=` is a bad cursor, not no cursor)."""
    return request.get_args(keep_blank_values=True)


def _error(code: str, status: int, detail: Optional[str] = None, hint: Optional[str] = None,
           headers: Optional[dict[str, str]] = None) -> HTTPResponse:
    """Return {"error": code} with the optional detail and hint."""
    body: dict[str, Any] = {"error": code}
    if detail:
        body["detail"] = detail
    if hint:
        body["hint"] = hint
    return response.json(body, status=status, headers=headers)


async def _static(name: str) -> HTTPResponse:
    """Serve a dashboard file from static/ (never outside it)."""
    root = STATIC_DIR.resolve()
    if not root.joinpath("index.html").is_file():
        return _error("dashboard_unavailable", 503, "the dashboard files are not installed")
    if len(name) > MAX_ASSET_LENGTH or not ASSET.fullmatch(name):
        return _error("not_found", 404)
    try:
        path = (root / name).resolve()
        found = root in path.parents and path.is_file()
    except OSError:  # a name the file system refuses
        found = False
    if not found:
        return _error("not_found", 404)
    mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return await response.file(path, mime_type=mime_type, headers={"Cache-Control": "no-cache"})


def _handoff_item(waiting: handoff.Waiting) -> dict[str, Any]:
    """Return one waiting conversation as the API shows it."""
    last = None if waiting.last_message_at is None else {
        "text": waiting.last_message_text, "kind": waiting.last_message_kind,
        "at": history.iso(waiting.last_message_at)}
    return {"wa_id": waiting.wa_id, "state": "waiting", "since": history.iso(waiting.since),
            "last_activity_at": history.iso(waiting.last_activity_at), "name": waiting.customer_name or
            waiting.profile_name, "profile_name": waiting.profile_name, "company": waiting.company,
            "messages_waiting": waiting.messages_waiting, "staff_replies": waiting.staff_replies,
            "last_message": last}
