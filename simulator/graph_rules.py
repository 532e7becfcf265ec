"""What Meta's Graph API checks on a /messages body, and the error envelope it answers with.

Shared by the fake server (simulator/graph_api.py) and by render tests, so "the renderer's
output is accepted" means exactly "the fake accepts it". Limits: shared/whatsapp/README.md 11-12.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Callable

SEND_TYPES = ("text", "interactive", "image", "video", "audio", "document", "sticker",
              "location", "contacts", "reaction", "template")
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
INTERACTIVE_TYPES = ("button", "list", "cta_url", "flow", "product", "product_list",
                     "location_request_message")
_TITLES = {
    0: "AuthException", 1: "API Unknown", 2: "API Service", 4: "API Too Many Calls",
    100: "Invalid parameter", 190: "Invalid OAuth access token", 80007: "Rate limit issues",
    130429: "Rate limit hit", 131000: "Something went wrong", 131008: "Required parameter is missing",
    131009: "Parameter value is not valid", 131016: "Service unavailable",
    131026: "Message undeliverable", 131047: "Re-engagement message",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    133004: "Server temporarily unavailable",
}
# Meta says branch on code, not HTTP status; these statuses are the fake's choice (README 11.8).
_HTTP_STATUS = {190: 401, 1: 500, 2: 503, 131000: 500, 131016: 503, 133004: 503}


@dataclass(frozen=True)
class Rejection:
    """Why Meta would refuse a request: an error code and the `error_data.details` text."""

    code: int
    details: str


class _Invalid(Exception):
    """Internal: stop checking at the first problem, as Meta reports one at a time."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.rejection = Rejection(code, details)


def http_status_for(code: int) -> int:
    """Return the HTTP status the fake answers with for a Meta error code."""
    return _HTTP_STATUS.get(code, 400)


def error_body(code: int, details: str = "", subcode: int | None = None) -> dict[str, Any]:
    """Return Meta's error envelope for a code, shaped like payloads/graph_error_*.json."""
    title = _TITLES.get(code, "Error")
    error: dict[str, Any] = {"message": f"(#{code}) {title}", "type": "OAuthException", "code": code}
    if code == 190:  # generic Graph auth errors carry no error_data
        error["message"] = "Invalid OAuth access token - Cannot parse access token"
    elif details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = secrets.token_urlsafe(17)[:23]
    return {"error": error}


# What /media takes, by MIME type, and the size cap of each (shared/whatsapp/README.md section 12).
_MB = 1024 * 1024
UPLOAD_LIMITS = {
    "image/jpeg": 5 * _MB, "image/png": 5 * _MB, "image/webp": 500 * 1024,
    "audio/aac": 16 * _MB, "audio/amr": 16 * _MB, "audio/mpeg": 16 * _MB, "audio/mp4": 16 * _MB,
    "audio/ogg": 16 * _MB, "video/mp4": 16 * _MB, "video/3gpp": 16 * _MB,
    "text/plain": 100 * _MB, "application/pdf": 100 * _MB, "application/msword": 100 * _MB,
    "application/vnd.ms-excel": 100 * _MB, "application/vnd.ms-powerpoint": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 * _MB,
}


def validate_upload(messaging_product: Any, mime_type: Any, has_file: bool, size: int) -> Rejection | None:
    """Return why Meta's /media would refuse this multipart upload, or None."""
    try:
        _expect(messaging_product == "whatsapp", 100, "Param messaging_product must be 'whatsapp'.")
        _expect(has_file, 131008, "Parameter 'file' is required.")
        _expect(isinstance(mime_type, str) and bool(mime_type), 131008, "Parameter 'type' is required.")
        limit = UPLOAD_LIMITS.get(mime_type.split(";")[0].strip().lower())
        _expect(limit is not None, 100, f"Param type '{mime_type}' is not a supported media type.")
        _expect(0 < size <= limit, 100, f"Param file must be between 1 byte and {limit} bytes for {mime_type}.")
    except _Invalid as invalid:
        return invalid.rejection
    return None


def validate_message(body: Any) -> Rejection | None:
    """Return why Meta would refuse this /messages body (send, read or typing), or None."""
    try:
        _check(body)
    except _Invalid as invalid:
        return invalid.rejection
    return None


def _check(body: Any) -> None:
    """Raise _Invalid for the first problem in a /messages body."""
    _expect(isinstance(body, dict), 100, "The request body must be a JSON object.")
    _expect("messaging_product" in body, 100, "The parameter messaging_product is required.")
    _expect(body["messaging_product"] == "whatsapp", 100, "Param messaging_product must be 'whatsapp'.")
    if "status" in body:  # mark as read, optionally with a typing indicator
        _expect(body["status"] == "read", 100, "Param status must be 'read'.")
        _string(body.get("message_id"), "message_id", 512)
        indicator = body.get("typing_indicator")
        _expect(indicator in (None, {"type": "text"}), 100, "Param typing_indicator is invalid.")
        return
    _expect(bool(body.get("to") or body.get("recipient")), 100, "The parameter to is required.")
    _expect(body.get("recipient_type", "individual") in ("individual", "group"), 100,
            "Param recipient_type must be 'individual' or 'group'.")
    kind = body.get("type", "text")  # Meta defaults the type to text
    _expect(kind in SEND_TYPES, 100, f"Param type must be one of {{{', '.join(SEND_TYPES)}}}.")
    context = body.get("context")
    if context is not None:
        _expect(kind != "reaction", 100, "Param context is not allowed on reaction messages.")
        _expect(isinstance(context, dict), 100, "Param context must be an object.")
        _string(context.get("message_id"), "context.message_id", 512)
    obj = body.get(kind)
    _expect(obj is not None, 131008, f"Parameter '{kind}' is required.")
    _expect(isinstance(obj, list if kind == "contacts" else dict), 100, f"Param {kind} has the wrong shape.")
    checker = _CHECKERS.get(kind, _check_media)
    checker(obj, kind)


def _check_text(obj: Any, path: str) -> None:
    """Check a text message: a non-empty body of at most 4096 characters."""
    _string(obj.get("body"), f"{path}.body", 4096)


def _check_media(obj: Any, kind: str) -> None:
    """Check a media message: exactly one of id or link, a caption only where allowed."""
    _expect(isinstance(obj, dict), 100, f"Param {kind} must be an object.")
    _expect(bool(obj.get("id")) != bool(obj.get("link")), 100, f"Param {kind} needs one of id or link.")
    if obj.get("link"):
        is_url = str(obj["link"]).startswith(("http://", "https://"))
        _expect(is_url, 100, f"Param {kind}.link must be an http(s) URL.")
    if "caption" in obj:
        _expect(kind not in ("audio", "sticker"), 100, f"Param {kind}.caption is not supported.")
        _string(obj["caption"], f"{kind}.caption", 1024)


def _check_template(obj: Any, path: str) -> None:
    """Check a template: a name and a language code."""
    _string(obj.get("name"), f"{path}.name", 512)
    language = obj.get("language")
    _expect(isinstance(language, dict), 131008, f"Parameter '{path}.language' is required.")
    _string(language.get("code"), f"{path}.language.code", 16)


def _check_reaction(obj: Any, path: str) -> None:
    """Check a reaction: the wamid reacted to and an emoji ("" removes it)."""
    _string(obj.get("message_id"), f"{path}.message_id", 512)
    _expect(isinstance(obj.get("emoji"), str), 131008, f"Parameter '{path}.emoji' is required.")


def _check_location(obj: Any, path: str) -> None:
    """Check a location: numeric latitude and longitude."""
    for key in ("latitude", "longitude"):
        _expect(isinstance(obj.get(key), (int, float)), 131008, f"Parameter '{path}.{key}' is required.")


def _check_contacts(obj: Any, path: str) -> None:
    """Check contacts: a non-empty list of cards."""
    _expect(isinstance(obj, list) and bool(obj), 131008, f"Parameter '{path}' must be a non-empty list.")


def _check_interactive(obj: Any, path: str) -> None:
    """Check reply buttons and lists against Meta's counts and lengths."""
    kind = obj.get("type")
    _expect(kind in INTERACTIVE_TYPES, 100, f"Param {path}.type must be one of {list(INTERACTIVE_TYPES)}.")
    header = obj.get("header")
    if header is not None:
        _expect(isinstance(header, dict), 100, f"Param {path}.header must be an object.")
        _expect(kind == "button" or header.get("type") == "text", 100, f"Param {path}.header must be text.")
        if header.get("type") == "text":
            _string(header.get("text"), f"{path}.header.text", 60)
    if obj.get("footer") is not None:
        _string(_obj(obj["footer"]).get("text"), f"{path}.footer.text", 60)
    if kind not in ("button", "list"):
        return
    _string(_obj(obj.get("body")).get("text"), f"{path}.body.text", 1024 if kind == "button" else 4096)
    action = obj.get("action")
    _expect(isinstance(action, dict), 131008, f"Parameter '{path}.action' is required.")
    if kind == "button":
        _check_buttons(action.get("buttons"), f"{path}.action.buttons")
    else:
        _check_list(action, f"{path}.action")


def _check_buttons(buttons: Any, path: str) -> None:
    """Check 1-3 reply buttons with unique titles (max 20) and ids (max 256)."""
    _expect(isinstance(buttons, list) and 1 <= len(buttons) <= 3, 100,
            f"Parameter '{path}' must have between 1 and 3 buttons.")
    titles, ids = set(), set()
    for i, button in enumerate(buttons):
        reply = _obj(button).get("reply")
        _expect(_obj(button).get("type") == "reply" and isinstance(reply, dict), 100,
                f"Param {path}[{i}] must be a reply button.")
        _string(reply.get("id"), f"{path}[{i}].reply.id", 256)
        _expect(reply["id"] == reply["id"].strip(), 100, f"Param {path}[{i}].reply.id has outer spaces.")
        _string(reply.get("title"), f"{path}[{i}].reply.title", 20)
        _expect(reply["title"] not in titles, 100, f"Param {path}[{i}].reply.title must be unique.")
        _expect(reply["id"] not in ids, 100, f"Param {path}[{i}].reply.id must be unique.")
        titles.add(reply["title"])
        ids.add(reply["id"])


def _check_list(action: dict[str, Any], path: str) -> None:
    """Check a list: label max 20, 1-10 sections, 1-10 rows in all, row limits, unique ids."""
    _string(action.get("button"), f"{path}.button", 20)
    sections = action.get("sections")
    _expect(isinstance(sections, list) and 1 <= len(sections) <= 10, 100,
            f"Parameter '{path}.sections' must have between 1 and 10 sections.")
    ids: set[str] = set()
    for s, section in enumerate(sections):
        _expect(isinstance(section, dict) and isinstance(section.get("rows"), list), 131008,
                f"Parameter '{path}.sections[{s}].rows' is required.")
        if len(sections) > 1 or "title" in section:
            _string(section.get("title"), f"{path}.sections[{s}].title", 24)
        for r, row in enumerate(section["rows"]):
            where = f"{path}.sections[{s}].rows[{r}]"
            _expect(isinstance(row, dict), 100, f"Param {where} must be an object.")
            _string(row.get("id"), f"{where}.id", 200)
            _expect(row["id"] not in ids, 100, f"Param {where}.id must be unique.")
            ids.add(row["id"])
            _string(row.get("title"), f"{where}.title", 24)
            if "description" in row:
                _string(row["description"], f"{where}.description", 72)
    _expect(1 <= len(ids) <= 10, 100, f"Parameter '{path}.sections' must hold between 1 and 10 rows in all.")


def _string(value: Any, path: str, limit: int) -> None:
    """Require a non-blank string of at most limit characters."""
    _expect(value is not None and value != "", 131008, f"Parameter '{path}' is required.")
    _expect(isinstance(value, str) and value.strip() != "", 100,
            f"Parameter '{path}' must be a non-empty string.")
    _expect(len(value) <= limit, 100, f"Parameter '{path}' is longer than the allowed {limit} characters.")


def _obj(value: Any) -> dict[str, Any]:
    """Return value if it is a JSON object, else an empty one (so the next check names the field)."""
    return value if isinstance(value, dict) else {}


def _expect(condition: bool, code: int, details: str) -> None:
    """Raise _Invalid with Meta's code and details unless condition holds."""
    if not condition:
        raise _Invalid(code, details)


_CHECKERS: dict[str, Callable[[Any, str], None]] = {
    "text": _check_text, "interactive": _check_interactive, "template": _check_template,
    "reaction": _check_reaction, "location": _check_location, "contacts": _check_contacts,
}
