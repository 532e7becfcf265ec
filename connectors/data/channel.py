"""The data API as a Rasa input channel, mounted by `rasa run` at /api/data (openapi/data.yaml).

For each kind (companies, contacts, orders, production-runs, defects): PUT /<kind> upserts a batch
`{"rows": [...]}` of up to 1,000 rows in one transaction, GET /<kind> pages through them and
GET /<kind>/<key> reads one. Without DATA_API_TOKEN every route answers 404 `api_disabled`; otherwise
each needs `Authorization: Bearer <DATA_API_TOKEN>` (401 `unauthorized`), and a caller presenting
staff credentials instead (the operators' token or a `staff_session` cookie) gets 403 `forbidden`.
A malformed body gets 400; rows that cannot be written get 422 listing every problem, and nothing of
the batch is written.
"""
from __future__ import annotations

import asyncio
import logging
from functools import wraps
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from connectors.data import reads
from connectors.document_upload import mount as mount_document_upload
from connectors.data.config import DataConfig
from connectors.data.rows import KINDS, MAX_ROWS, Invalid, Kind, validate
from connectors.data.store import Rejected, write
from connectors.management.channel import authorized
from connectors.management.inputs import BadRequest, decode_cursor, encode_cursor, json_object, limit_of

logger = logging.getLogger(__name__)

URL_PREFIX = "/api/data"
STAFF_COOKIE = "staff_session"  # the staff sign-in's session cookie
PAGE_LIMIT = (100, 1000)  # (default, maximum)
Handler = Callable[..., Awaitable[HTTPResponse]]


class DataInput(InputChannel):
    """Data API: idempotent upserts and reads of the business's companies, contacts, orders, runs and defects."""

    @classmethod
    def name(cls) -> Text:
        """Return the channel name."""
        return "data"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """Build the channel from the environment; the credentials block stays empty."""
        return cls(DataConfig.from_env())

    def __init__(self, config: DataConfig) -> None:
        """Args:
            config: settings from the environment (DataConfig.from_env), the tokens included.
        """
        self.config = config

    def url_prefix(self) -> Text:
        """Return /api/data (Rasa joins it onto /webhooks/, and an absolute path wins)."""
        return URL_PREFIX

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Return the routes: PUT, GET list and GET one for every kind, and PUT an order's document."""
        api = Blueprint("data_api", __name__)
        for kind in KINDS.values():
            slug = kind.name.replace("-", "_")
            api.add_route(self._guard(_upsert_handler(kind)), f"/{kind.name}", methods=["PUT"],
                          name=f"put_{slug}")
            api.add_route(self._guard(_list_handler(kind)), f"/{kind.name}", methods=["GET"],
                          name=f"list_{slug}")
            api.add_route(self._guard(_one_handler(kind)), f"/{kind.name}/<key:str>", methods=["GET"],
                          name=f"get_{slug}")
        mount_document_upload(api, self._guard)  # PUT /orders/<ref>/documents/<kind> (a file, not rows)
        return api

    def _guard(self, handler: Handler) -> Handler:
        """Wrap a handler: API switched on, the data token, staff refused, errors as JSON 4xx."""
        @wraps(handler)
        async def guarded(request: Request, **kwargs: Any) -> HTTPResponse:
            if not self.config.api_enabled:
                return _error("api_disabled", 404, "set DATA_API_TOKEN to switch the data API on")
            header = request.headers.get("authorization")
            if not authorized(header, self.config.api_token or ""):
                if _is_staff(request, header, self.config.staff_token):
                    logger.info("data.api.forbidden route=%s", handler.__name__)
                    return _error("forbidden", 403, "staff credentials cannot use the data API; "
                                                    "send the data token (DATA_API_TOKEN)")
                logger.info("data.api.unauthorized route=%s", handler.__name__)
                return _error("unauthorized", 401, headers={"WWW-Authenticate": 'Bearer realm="data"'})
            try:
                return await handler(request, **kwargs)
            except BadRequest as exc:
                return _error(exc.code, 400, exc.detail)
            except Rejected as exc:
                return _rejected(exc)
            except IntegrityError:
                # Only a concurrent writer of the same new key gets here (PostgreSQL); nothing was written.
                return _error("conflict", 409, "another write of the same records ran at the same time; "
                                              "send the batch again")
            except SQLAlchemyError as exc:
                logger.error("data.api.database_failed route=%s error=%s", handler.__name__, type(exc).__name__)
                logger.debug("data.api.database_failed traceback", exc_info=exc)
                return _error("database_unavailable", 503)
        return guarded


def _upsert_handler(kind: Kind) -> Handler:
    async def upsert(request: Request) -> HTTPResponse:
        rows = rows_of(json_object(request.body))
        records, problems = validate(kind, rows)
        if problems:
            raise Rejected(problems)
        outcome = await asyncio.to_thread(write, kind, records)
        counts = outcome.counts()
        logger.info("data.api.upserted kind=%s created=%d updated=%d unchanged=%d", kind.name,
                    counts["created"], counts["updated"], counts["unchanged"])
        results = [{kind.key: key, "outcome": result} for key, result in zip(outcome.keys, outcome.outcomes)]
        return response.json({"kind": kind.name, **counts, "results": results})
    upsert.__name__ = f"put_{kind.name}"
    return upsert


def _list_handler(kind: Kind) -> Handler:
    async def listing(request: Request) -> HTTPResponse:
        query = request.get_args(keep_blank_values=True)
        limit = limit_of(query, *PAGE_LIMIT)
        cursor = decode_cursor(_first(query, "cursor"), (int,), "cursor")
        company_ref = _company_ref(_first(query, "company_ref")) if kind.name in ("contacts", "orders") else None
        items, last_id = await asyncio.to_thread(reads.page, kind.name, limit, cursor[0] if cursor else None,
                                                 company_ref)
        return response.json({kind.name.replace("-", "_"): items,
                              "next_cursor": encode_cursor(last_id) if last_id is not None else None})
    listing.__name__ = f"list_{kind.name}"
    return listing


def _one_handler(kind: Kind) -> Handler:
    async def one(_: Request, key: str) -> HTTPResponse:
        spec = next(f for f in kind.fields if f.name == kind.key)
        try:
            normalized = spec.parse(key, False)
        except Invalid:
            normalized = None  # a key no row can have
        found = None if normalized is None else await asyncio.to_thread(reads.one, kind.name, normalized)
        if found is None:
            return _error("not_found", 404, f"no {kind.name} record has {kind.key} {key!r}"[:200])
        return response.json(found)
    one.__name__ = f"get_{kind.name}"
    return one


def rows_of(body: dict[str, Any]) -> list[Any]:
    """Return the batch's rows: {"rows": [1 to MAX_ROWS items]} and nothing else."""
    unknown = set(body) - {"rows"}
    if unknown:
        raise BadRequest("invalid_body", f"unknown field: {sorted(unknown)[0]}")
    rows = body.get("rows")
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_ROWS:
        raise BadRequest("invalid_body", f"rows must be a list of 1 to {MAX_ROWS} objects")
    return rows


def _company_ref(value: Optional[str]) -> Optional[str]:
    """Return the company_ref filter, or None when absent."""
    if value is None:
        return None
    try:
        return KINDS["companies"].fields[0].parse(value, False)
    except Invalid as exc:
        raise BadRequest("invalid_company_ref", f"company_ref {exc.message}") from None


def _first(query: Any, name: str) -> Optional[str]:
    """Return the first value of a query parameter, or None."""
    values = query.get(name)
    if isinstance(values, list):
        return values[0] if values else None
    return values


def _is_staff(request: Request, header: Optional[str], staff_token: Optional[str]) -> bool:
    """Return True when the caller shows staff credentials: the operators' token or a staff session."""
    if staff_token and authorized(header, staff_token):
        return True
    return STAFF_COOKIE in request.cookies


def _rejected(exc: Rejected) -> HTTPResponse:
    """Return 422 listing every problem."""
    rows = len({p.row for p in exc.problems})
    return response.json({"error": "invalid_rows",
                          "detail": f"{len(exc.problems)} problems in {rows} rows; nothing was written",
                          "problems": [p.to_json() for p in exc.problems]}, status=422)


def _error(code: str, status: int, detail: Optional[str] = None,
           headers: Optional[dict[str, str]] = None) -> HTTPResponse:
    """Return {"error": code} with the optional detail."""
    body: dict[str, Any] = {"error": code}
    if detail:
        body["detail"] = detail
    return response.json(body, status=status, headers=headers)
