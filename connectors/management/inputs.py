"""Pure parsing of API input: numbers, limits, cursors, dates and request bodies.

Every problem raises BadRequest with a stable snake_case code and a short detail; the channel turns
it into a 400 JSON answer, so bad input never reaches the database or becomes a 5xx.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Mapping, Optional

from database.clock import to_naive_utc

TEXT_MAX = 4096  # Meta's text body limit; one message, never split
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")  # Meta: lowercase letters, digits, underscores
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8})?$")  # en, en_US, pt_BR
WA_ID = re.compile(r"^\+?([1-9][0-9]{6,14})$")  # E.164 digits, optional plus
MAX_COMPONENTS = 10
MAX_WINDOW = timedelta(days=400)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_TIME = re.compile(r"(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?)(?P<fraction>\.\d+)?"
                       r"(?P<offset>Z|[+-]\d{2}:\d{2})?")
MAX_COMPONENTS_BYTES = 16_384
MAX_JSON_DEPTH = 32  # a send body needs about 6 (template components); deeper is an attack or a bug


class BadRequest(ValueError):
    """Input the API refuses with 400."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Template:
    """A pre-approved template to send: name, language code and Graph components."""

    name: str
    language: str
    components: tuple[dict[str, Any], ...] = ()

    def to_graph(self) -> dict[str, Any]:
        """Return the Graph `template` object."""
        body: dict[str, Any] = {"name": self.name, "language": {"code": self.language}}
        if self.components:
            body["components"] = [dict(c) for c in self.components]
        return body


@dataclass(frozen=True)
class SendRequest:
    """POST /send: a free-form text or a template to one number."""

    to: str
    text: Optional[str] = None
    template: Optional[Template] = None


def wa_id_of(value: Any, field: str = "wa_id") -> str:
    """Return the digits of a WhatsApp number given as E.164 with or without '+'."""
    match = WA_ID.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise BadRequest("invalid_wa_id", f"{field} must be a phone number in E.164 digits, e.g. 919800000001")
    return match.group(1)


def limit_of(args: Mapping[str, Any], default: int, maximum: int) -> int:
    """Return the `limit` query parameter, an integer from 1 to maximum."""
    raw = _first(args, "limit")
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,6}", raw.strip()) or not 1 <= int(raw) <= maximum:
        raise BadRequest("invalid_limit", f"limit must be an integer from 1 to {maximum}")
    return int(raw)


def encode_cursor(*parts: Any) -> str:
    """Return an opaque cursor for a page boundary."""
    raw = json.dumps([p.isoformat() if isinstance(p, datetime) else p for p in parts], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(value: Optional[str], shape: tuple[type, ...], field: str) -> Optional[tuple[Any, ...]]:
    """Return the parts of a cursor made by encode_cursor (datetimes restored), None if absent."""
    if value is None:
        return None
    try:
        padded = value + "=" * (-len(value) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(parts, list) or len(parts) != len(shape):
            raise ValueError("wrong length")
        out = []
        for part, kind in zip(parts, shape):
            if kind is datetime:
                out.append(datetime.fromisoformat(part))
            elif isinstance(part, kind) and not isinstance(part, bool):
                out.append(part)
            else:
                raise ValueError("wrong type")
        return tuple(out)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise BadRequest("invalid_cursor", f"{field} must be a cursor returned by a previous page") from None


def moment_of(args: Mapping[str, Any], name: str) -> Optional[datetime]:
    """Return an ISO 8601 date or date-time query parameter as naive UTC (a date is its UTC midnight)."""
    raw = _first(args, name)
    if raw is None:
        return None
    text = raw.strip().upper()
    try:
        if DATE.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time())
        match = DATE_TIME.fullmatch(text)
        if match is None:
            raise ValueError(text)
        fraction = (match.group("fraction") or "")[:7].ljust(7, "0") if match.group("fraction") else ""
        offset = match.group("offset") or ""
        moment = datetime.fromisoformat(match.group("base") + fraction + ("+00:00" if offset == "Z" else offset))
        return to_naive_utc(moment)
    except (ValueError, OverflowError):
        raise BadRequest("invalid_date", f"{name} must be an ISO 8601 date or date-time") from None


def window_of(args: Mapping[str, Any], now: datetime, default_days: int = 30) -> tuple[datetime, datetime]:
    """Return (since, until) from the query, defaulting to the last default_days up to now."""
    until = moment_of(args, "until") or now
    try:
        since = moment_of(args, "since") or until - timedelta(days=default_days)
    except OverflowError:
        raise BadRequest("invalid_date", "until is too early") from None
    if since >= until:
        raise BadRequest("invalid_date", "since must be before until")
    if until - since > MAX_WINDOW:
        raise BadRequest("invalid_date", f"the window may span at most {MAX_WINDOW.days} days")
    return since, until


def json_object(body: Optional[bytes]) -> dict[str, Any]:
    """Return the request body as a JSON object nested at most MAX_JSON_DEPTH levels."""
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("invalid_json", "the body must be a JSON object") from None
    except RecursionError:  # nested deeper than the parser's stack allows
        raise BadRequest("invalid_json", f"the body may be nested at most {MAX_JSON_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise BadRequest("invalid_json", "the body must be a JSON object")
    if json_depth(data) > MAX_JSON_DEPTH:  # what parses may still be too deep to store or render
        raise BadRequest("invalid_json", f"the body may be nested at most {MAX_JSON_DEPTH} levels")
    return data


def json_depth(value: Any) -> int:
    """Return how many levels of objects and arrays value has (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def text_of(data: Mapping[str, Any], field: str = "text") -> str:
    """Return a non-blank text of at most TEXT_MAX characters."""
    value = data.get(field)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("invalid_body", f"{field} must be a non-empty string")
    if len(value) > TEXT_MAX:
        raise BadRequest("invalid_body", f"{field} must be at most {TEXT_MAX} characters")
    return value.strip()


def send_request(data: Mapping[str, Any]) -> SendRequest:
    """Return POST /send's request: `to` and exactly one of `text` or `template`."""
    unknown = set(data) - {"to", "text", "template"}
    if unknown:
        raise BadRequest("invalid_body", f"unknown field: {sorted(unknown)[0]}")
    to = wa_id_of(data.get("to"), "to")
    if ("text" in data) == ("template" in data):
        raise BadRequest("invalid_body", "give exactly one of text or template")
    if "text" in data:
        return SendRequest(to, text=text_of(data))
    return SendRequest(to, template=template_of(data["template"]))


def template_of(value: Any) -> Template:
    """Return a template from {name, language, components?}; language may be "en" or {"code": "en"}."""
    if not isinstance(value, dict):
        raise BadRequest("invalid_template", "template must be an object")
    unknown = set(value) - {"name", "language", "components"}
    if unknown:
        raise BadRequest("invalid_template", f"unknown template field: {sorted(unknown)[0]}")
    name = value.get("name")
    if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
        raise BadRequest("invalid_template", "template.name must be lowercase letters, digits and underscores")
    language = value.get("language", "en")
    if isinstance(language, dict) and set(language) == {"code"}:
        language = language["code"]
    if not isinstance(language, str) or not LANGUAGE.match(language):
        raise BadRequest("invalid_template", "template.language must be a language code such as en or en_US")
    components = value.get("components", [])
    if not isinstance(components, list) or len(components) > MAX_COMPONENTS:
        raise BadRequest("invalid_template", f"template.components must be a list of at most {MAX_COMPONENTS}")
    for component in components:
        if not isinstance(component, dict) or not isinstance(component.get("type"), str):
            raise BadRequest("invalid_template", "each template component must be an object with a type")
    if len(json.dumps(components)) > MAX_COMPONENTS_BYTES:
        raise BadRequest("invalid_template", "template.components is too large")
    return Template(name, language, tuple(components))


def _first(args: Mapping[str, Any], name: str) -> Optional[str]:
    """Return the first value of a query parameter (Sanic gives lists), or None."""
    value = args.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value if value is None else str(value)
