"""The staff inbox as a Rasa input channel, mounted by `rasa run` at /staff.

Pages: /staff (the inbox) and /staff/signin; their files under /staff/static/. The inbox page
without a session redirects to the sign-in page; every /staff/api/ route without one answers 401
`unauthorized`. Every POST needs the CSRF token (403 `csrf`): the session's for a signed-in person,
the double-submit cookie's for the sign-in itself. Bad input gets 400 with a code, refusals 409,
too many failed sign-ins 429 with Retry-After. Every action is in the audit table.
"""
from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
from functools import wraps
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from connectors.management.inputs import BadRequest, json_object, text_of, wa_id_of
from connectors.management.outbound import Refused
from connectors.staff import audit, inbox, replies, signin
from connectors.staff.config import StaffConfig
from connectors.staff.sessions import (COOKIE, CSRF_HEADER, SIGNIN_CSRF_COOKIE, SIGNIN_CSRF_TTL, StaffSession,
                                       cookie_header, end_session, find_session, new_token, tokens_match)

logger = logging.getLogger(__name__)

URL_PREFIX = "/staff"
STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSET = re.compile(r"(css|js)/[a-z0-9_-]{1,40}\.(css|js)")
INLINE_MEDIA = ("image/jpeg", "image/png", "image/webp")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
Handler = Callable[..., Awaitable[HTTPResponse]]


class StaffInput(InputChannel):
    """The staff inbox: sign-in, the conversations list, one conversation, replies and handoffs."""

    @classmethod
    def name(cls) -> Text:
        """Return the channel name."""
        return "staff"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """Build the channel from the environment; the credentials block stays empty."""
        return cls(StaffConfig.from_env())

    def __init__(self, config: StaffConfig) -> None:
        """Args:
            config: settings from the environment (StaffConfig.from_env).
        """
        self.config = config

    def url_prefix(self) -> Text:
        """Return /staff (Rasa joins it onto /webhooks/, and an absolute path wins)."""
        return URL_PREFIX

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Return the pages and the inbox API."""
        bp = Blueprint("staff_inbox", __name__)
        reader, writer = self._reader, self._writer

        @bp.route("", methods=["GET"])
        async def inbox_page(request: Request) -> HTTPResponse:
            if await self._session(request) is None:
                return response.redirect(f"{URL_PREFIX}/signin", status=303, headers=SECURITY_HEADERS)
            return await _page("inbox.html")

        @bp.route("/signin", methods=["GET"])
        async def signin_page(_: Request) -> HTTPResponse:
            return await _page("signin.html")

        @bp.route("/static/<asset:path>", methods=["GET"])
        async def asset(_: Request, asset: str) -> HTTPResponse:
            if not ASSET.fullmatch(asset) or not (STATIC_DIR / asset).is_file():
                return _error("not_found", 404)
            mime_type = mimetypes.guess_type(asset)[0] or "application/octet-stream"
            return await response.file(STATIC_DIR / asset, mime_type=mime_type,
                                       headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})

        @bp.route("/api/signin", methods=["GET"])
        async def signin_token(_: Request) -> HTTPResponse:
            token = new_token()
            answer = _json({"csrf_token": token})
            answer.headers.add("Set-Cookie", cookie_header(SIGNIN_CSRF_COOKIE, token,
                                                           int(SIGNIN_CSRF_TTL.total_seconds()), self.config.cookie_secure))
            return answer

        @bp.route("/api/signin", methods=["POST"])
        async def sign_in(request: Request) -> HTTPResponse:
            if not tokens_match(request.cookies.get(SIGNIN_CSRF_COOKIE), request.headers.get(CSRF_HEADER)):
                return _error("csrf", 403, "reload the sign-in page and try again")
            try:
                body = json_object(request.body)
                username, password = body.get("username"), body.get("password")
                if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
                    raise BadRequest("invalid_body", "username and password must be non-empty strings")
                result = await asyncio.to_thread(signin.sign_in, username, password, _ip(request), self.config,
                                                 previous_token=request.cookies.get(COOKIE))
            except BadRequest as exc:
                return _error(exc.code, 400, exc.detail)
            except SQLAlchemyError as exc:
                return _database_failed("sign_in", exc)
            if result.retry_after:
                logger.warning("staff.signin.rate_limited retry_after=%s", result.retry_after)
                return _error("too_many_attempts", 429, "too many failed sign-ins; wait and try again",
                              headers={"Retry-After": str(result.retry_after)})
            if result.session is None or result.token is None:
                logger.info("staff.signin.refused")
                return _error("invalid_credentials", 401, "the username or password is wrong")
            logger.info("staff.signin.ok account=%s", result.session.account_id)
            answer = _json(self._me(result.session))
            answer.headers.add("Set-Cookie", cookie_header(COOKIE, result.token,
                                                           int(self.config.session_ttl.total_seconds()),
                                                           self.config.cookie_secure))
            answer.headers.add("Set-Cookie", cookie_header(SIGNIN_CSRF_COOKIE, "", 0, self.config.cookie_secure))
            return answer

        @bp.route("/api/signout", methods=["POST"])
        @writer
        async def sign_out(request: Request, staff: StaffSession) -> HTTPResponse:
            token = request.cookies.get(COOKIE) or ""
            await asyncio.to_thread(_sign_out, token, staff, _ip(request))
            answer = _json({"status": "signed_out"})
            answer.headers.add("Set-Cookie", cookie_header(COOKIE, "", 0, self.config.cookie_secure))
            return answer

        @bp.route("/api/me", methods=["GET"])
        @reader
        async def me(_: Request, staff: StaffSession) -> HTTPResponse:
            return _json(self._me(staff))

        @bp.route("/api/conversations", methods=["GET"])
        @reader
        async def conversation_list(request: Request, staff: StaffSession) -> HTTPResponse:
            query = inbox.query_of(request.args.get("q") or "")
            items = await asyncio.to_thread(inbox.conversations, query)
            return _json({"conversations": items})

        @bp.route("/api/conversations/<wa_id:str>", methods=["GET"])
        @reader
        async def conversation(_: Request, staff: StaffSession, wa_id: str) -> HTTPResponse:
            found = await asyncio.to_thread(inbox.conversation, wa_id_of(wa_id))
            if found is None:
                return _error("conversation_not_found", 404, "no messages from this number")
            return _json(found)

        @bp.route("/api/conversations/<wa_id:str>/reply", methods=["POST"])
        @writer
        async def reply(request: Request, staff: StaffSession, wa_id: str) -> HTTPResponse:
            number = wa_id_of(wa_id)
            body = json_object(request.body)
            if "template" in body:
                offered = self._template(body.get("template"))
                row_id = await asyncio.to_thread(replies.send_template, staff, number, offered, _ip(request),
                                                 self.config.marketing_templates)
                return _json({"id": row_id, "status": "queued", "kind": "template"}, status=202)
            text = text_of(body)
            row_id = await asyncio.to_thread(replies.reply, staff, number, text, _ip(request))
            return _json({"id": row_id, "status": "queued", "kind": "text"}, status=202)

        @bp.route("/api/conversations/<wa_id:str>/take-over", methods=["POST"])
        @writer
        async def take_over(request: Request, staff: StaffSession, wa_id: str) -> HTTPResponse:
            opened = await asyncio.to_thread(replies.take_over, staff, wa_id_of(wa_id), _ip(request))
            return _json({"state": "with_staff", "opened": opened})

        @bp.route("/api/conversations/<wa_id:str>/hand-back", methods=["POST"])
        @writer
        async def hand_back(request: Request, staff: StaffSession, wa_id: str) -> HTTPResponse:
            note_id = await asyncio.to_thread(replies.hand_back, staff, wa_id_of(wa_id), _ip(request))
            if note_id is None:
                return _error("handoff_not_found", 404, "no person has this conversation")
            return _json({"state": "bot", "note_id": note_id})

        @bp.route("/api/media/<inbound_id:int>", methods=["GET"])
        @reader
        async def media_file(_: Request, staff: StaffSession, inbound_id: int) -> HTTPResponse:
            # A row id fits a signed 64-bit integer; a larger one would make the driver raise (a 500).
            found = await asyncio.to_thread(inbox.media_file, inbound_id) if 0 < inbound_id < 2 ** 63 else None
            if found is None or not Path(found[0]).is_file():
                return _error("media_not_found", 404, "the file was not downloaded or is gone")
            path, mime_type, filename = found
            inline = mime_type in INLINE_MEDIA
            disposition = "inline" if inline else f'attachment; filename="{_safe_filename(filename)}"'
            return await response.file(path, mime_type=mime_type if inline else "application/octet-stream",
                                       headers={**SECURITY_HEADERS, "Content-Disposition": disposition,
                                                "Content-Security-Policy": "sandbox; default-src 'none'",
                                                "Cache-Control": "private, no-store"})

        return bp

    def _me(self, staff: StaffSession) -> dict[str, Any]:
        """Return who is signed in, their CSRF token and what the page needs to know."""
        return {"username": staff.username, "name": staff.name, "csrf_token": staff.csrf_token,
                "poll_seconds": self.config.poll_seconds,
                "templates": [{"name": t.name, "language": t.language} for t in self.config.templates]}

    def _template(self, value: Any) -> Any:
        """Return the offered template a reply names, or raise BadRequest."""
        name = value.get("name") if isinstance(value, dict) else value
        for offered in self.config.templates:
            if offered.name == name:
                return offered
        raise BadRequest("unknown_template", "template must be one of the templates /api/me offers")

    async def _session(self, request: Request) -> Optional[StaffSession]:
        """Return the request's live session, or None."""
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        return await asyncio.to_thread(find_session, token)

    def _reader(self, handler: Handler) -> Handler:
        """Wrap a GET handler: a session is needed."""
        return self._wrap(handler, write=False)

    def _writer(self, handler: Handler) -> Handler:
        """Wrap a POST handler: a session and its CSRF token are needed."""
        return self._wrap(handler, write=True)

    def _wrap(self, handler: Handler, write: bool) -> Handler:
        """Return the handler behind the session (and CSRF) checks and the error mapping."""
        @wraps(handler)
        async def guarded(request: Request, **kwargs: Any) -> HTTPResponse:
            try:
                staff = await self._session(request)
                if staff is None:
                    return _error("unauthorized", 401, "sign in first")
                if write and not tokens_match(staff.csrf_token, request.headers.get(CSRF_HEADER)):
                    logger.warning("staff.api.csrf_refused route=%s account=%s", handler.__name__, staff.account_id)
                    return _error("csrf", 403, "the page's CSRF token is missing or wrong; reload the page")
                return await handler(request, staff, **kwargs)
            except BadRequest as exc:
                return _error(exc.code, 400, exc.detail)
            except replies.NotFound:
                return _error("conversation_not_found", 404, "no messages from this number")
            except Refused as exc:
                return _error(exc.code, 409, _REFUSALS.get(exc.code), exc.hint)
            except SQLAlchemyError as exc:
                return _database_failed(handler.__name__, exc)
        return guarded


_REFUSALS = {
    "not_taken_over": "the bot has this conversation; take it over to reply",
    "opted_out": "this customer sent STOP: nothing may be sent to them",
    "outside_service_window": "the customer last wrote more than 24 hours ago: only a template may be sent",
    "marketing_opted_out": "this customer stopped marketing messages",
    "taken_by_other": "another person has this conversation",
}


def _sign_out(token: str, staff: StaffSession, ip: str) -> None:
    """End the session and record it."""
    end_session(token)
    audit.record(staff.username, "sign_out", staff.account_id, ip=ip)


def _ip(request: Request) -> str:
    """Return the client's address (a proxy's forwarded one only if Sanic is configured to trust it)."""
    return request.remote_addr or request.ip or "unknown"


def _json(body: Any, status: int = 200) -> HTTPResponse:
    """Return JSON that no cache keeps."""
    return response.json(body, status=status, headers={"Cache-Control": "no-store", **SECURITY_HEADERS})


def _error(code: str, status: int, detail: Optional[str] = None, hint: Optional[str] = None,
           headers: Optional[dict[str, str]] = None) -> HTTPResponse:
    """Return {"error": code} with the optional detail and hint."""
    body: dict[str, Any] = {"error": code}
    if detail:
        body["detail"] = detail
    if hint:
        body["hint"] = hint
    return response.json(body, status=status, headers={"Cache-Control": "no-store", **SECURITY_HEADERS,
                                                       **(headers or {})})


def _database_failed(route: str, exc: SQLAlchemyError) -> HTTPResponse:
    """Log a database failure by kind and answer 503."""
    logger.error("staff.api.database_failed route=%s error=%s", route, type(exc).__name__)
    logger.debug("staff.api.database_failed traceback", exc_info=exc)
    return _error("database_unavailable", 503)


def _safe_filename(filename: Optional[str]) -> str:
    """Return a filename safe inside a quoted header value."""
    cleaned = re.sub(r"[^A-Za-z0-9._ -]", "_", filename or "file")[:100].strip()
    return cleaned or "file"


async def _page(name: str) -> HTTPResponse:
    """Serve one of the two pages."""
    return await response.file(STATIC_DIR / name, mime_type="text/html",
                               headers={"Cache-Control": "no-store", **SECURITY_HEADERS})
