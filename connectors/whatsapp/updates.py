"""Turn one WhatsApp webhook POST body into typed, frozen updates.

Pure: a dict in, dataclasses out. Shape and keys follow Meta's webhook reference
(shared/whatsapp/README.md sections 5-10). `parse_delivery` walks every entry, change,
message and status, and never raises for one odd item: an unknown message becomes
kind "unsupported", a non-dict item is counted in `Delivery.skipped`.
"""
from __future__ import annotations

import math
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

WHATSAPP_OBJECT = "whatsapp_business_account"
MEDIA_KINDS = frozenset({"image", "document", "audio", "video", "sticker"})
# Kinds whose payload the assistant gets as `details`, not as text.
_PLAIN_KINDS = frozenset({"location", "contacts", "reaction", "order", "system"})
KINDS = frozenset(
    {"text", "button_reply", "list_reply", "template_button", "unsupported"} | MEDIA_KINDS | _PLAIN_KINDS
)
STATUSES = frozenset({"sent", "delivered", "read", "played", "failed"})
# Bounds of what the store keeps (its column widths and 64-bit integers): a value beyond them is
# not Meta's, and storing it would fail the whole delivery.
ID_MAX = 160  # phone numbers, BSUIDs, phone number ids
WAMID_MAX = 255
NAME_MAX = 255

# Statuses only move forward: a stored status changes only when the new rank is higher.
# sent < delivered < read < played (first play of a voice note); failed is terminal and
# beats everything; unknown values rank 0 and never move a message.
_STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 9}


def status_rank(status: str) -> int:
    """Return the rank of a status; apply an update only if it is higher than the stored one."""
    return _STATUS_RANK.get(status, 0)


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Media attached to an inbound message; download it by `media_id` (the `url` may be absent)."""

    media_id: str
    mime_type: str = ""
    sha256: str = ""  # base64 of the digest, as Meta sends it in webhooks
    url: str | None = None
    filename: str | None = None
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class ContextRef:
    """What an inbound message points at: the quoted business message, or a forward."""

    replied_to: str | None = None
    forwarded: bool = False


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One user message (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components)."""

    wamid: str
    wa_id: str  # phone-based id; the BSUID when the user has only a username
    phone_number_id: str  # our business number it arrived on
    profile_name: str | None
    timestamp: int
    kind: str
    text: str  # what the assistant should receive
    raw_type: str
    media: MediaRef | None = None
    context: ContextRef | None = None
    user_id: str | None = None  # BSUID when present, stored next to wa_id
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def metadata(self) -> dict[str, Any]:
        """Return the JSON-safe metadata for Rasa's UserMessage; never the raw body."""
        return {
            "wa_id": self.wa_id,
            "user_id": self.user_id,
            "profile_name": self.profile_name,
            "wamid": self.wamid,
            "timestamp": self.timestamp,
            "phone_number_id": self.phone_number_id,
            "kind": self.kind,
            "context": None if self.context is None else asdict(self.context),
            "media": None if self.media is None else asdict(self.media),
            "details": deepcopy(dict(self.details)),
        }


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """Progress of one message we sent, keyed by the wamid the send call returned."""

    wamid: str
    status: str  # one of STATUSES, or "unknown"
    recipient_id: str
    timestamp: int
    phone_number_id: str = ""
    error_codes: tuple[int, ...] = ()
    callback_data: str = ""  # biz_opaque_callback_data echoed from our send (names the outbox row)


@dataclass(frozen=True, slots=True)
class WebhookError:
    """A system, app or account error from `value.errors[]` (not tied to one message)."""

    code: int
    title: str
    details: str
    phone_number_id: str = ""


@dataclass(frozen=True, slots=True)
class PreferenceUpdate:
    """A user stopping or resuming marketing messages (field `user_preferences`)."""

    wa_id: str
    value: str  # "stop" or "resume"
    category: str
    timestamp: int
    phone_number_id: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """Everything one webhook POST carried, in the order Meta listed it."""

    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    errors: tuple[WebhookError, ...] = ()
    preferences: tuple[PreferenceUpdate, ...] = ()
    skipped: int = 0  # entries, changes or items too broken to read (log the count)


def parse_delivery(body: Any) -> Delivery:
    """Parse a webhook body; raise ValueError only if it is not a WhatsApp delivery at all."""
    if not isinstance(body, dict):
        raise ValueError("webhook body is not a JSON object")
    if body.get("object") != WHATSAPP_OBJECT:
        raise ValueError("webhook object is not whatsapp_business_account")
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise ValueError("webhook entry is not a list")
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    errors: list[WebhookError] = []
    preferences: list[PreferenceUpdate] = []
    skipped = 0
    for value in _values(entries):
        if value is None:
            skipped += 1
            continue
        number = _id(_dict(value.get("metadata")).get("phone_number_id"))
        names = _profile_names(value.get("contacts"))
        sole = _sole_contact(value.get("contacts"))
        builders: dict[str, tuple[list[Any], Callable[[dict[str, Any]], Any]]] = {
            "messages": (messages, lambda i: _message(i, number, names, sole)),
            "statuses": (statuses, lambda i: _status(i, number)),
            "errors": (errors, lambda i: _webhook_error(i, number)),
            "user_preferences": (preferences, lambda i: _preference(i, number)),
        }
        for key, (out, build) in builders.items():
            items = value.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                skipped += 1
                continue
            for item in items:
                if isinstance(item, dict):
                    out.append(build(item))
                else:
                    skipped += 1
    return Delivery(tuple(messages), tuple(statuses), tuple(errors), tuple(preferences), skipped)


def _values(entries: list[Any]) -> list[dict[str, Any] | None]:
    """Return every change's value dict; None stands for an entry or change that is not usable."""
    values: list[dict[str, Any] | None] = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            values.append(None)
            continue
        for change in changes:
            value = change.get("value") if isinstance(change, dict) else None
            values.append(value if isinstance(value, dict) else None)
    return values


def _message(msg: dict[str, Any], number: str, names: Mapping[str, str],
             sole: tuple[str, str] = ("", "")) -> InboundMessage:
    """Build one InboundMessage; unknown or incomplete types become kind "unsupported".

    A message naming no sender (no `from`, no `from_user_id`) is from the value's only contact.
    """
    raw_type = _str(msg.get("type"))
    if msg.get("from") or msg.get("from_user_id"):
        user_id = _id(msg.get("from_user_id")) or None
        wa_id = _id(msg.get("from")) or user_id or ""
    else:
        wa_id, user_id = sole[0], sole[1] or None
    kind, text, media, details = _content(raw_type, msg.get(raw_type) if raw_type else None)
    if msg.get("errors"):
        codes = [_code(e.get("code")) for e in _list(msg["errors"]) if isinstance(e, dict)]
        details = {**details, "error_codes": codes}
    return InboundMessage(
        wamid=_id(msg.get("id"), WAMID_MAX),
        wa_id=wa_id,
        phone_number_id=number,
        profile_name=names.get(wa_id) or (names.get(user_id) if user_id else None),
        timestamp=_int(msg.get("timestamp")),
        kind=kind,
        text=text,
        raw_type=raw_type,
        media=media,
        context=_context(msg.get("context")),
        user_id=user_id,
        details=details,
    )


def _content(raw_type: str, raw: Any) -> tuple[str, str, MediaRef | None, dict[str, Any]]:
    """Return (kind, text for the assistant, media, kind-specific details) for one message."""
    if raw_type == "contacts":
        return "contacts", "", None, _plain_details("contacts", raw)
    obj = _dict(raw)
    if raw_type == "text":
        return "text", _str(obj.get("body")), None, {}
    if raw_type == "interactive":
        sub = _str(obj.get("type"))
        reply = _dict(obj.get(sub))
        if sub in ("button_reply", "list_reply") and reply.get("id"):
            keep = {k: _str(reply[k]) for k in ("title", "description") if k in reply}
            return sub, _str(reply["id"]), None, keep
        return "unsupported", "", None, {"type": f"interactive.{sub or 'missing'}"}
    if raw_type == "button":  # a template quick-reply tap: payload, else the label
        payload = _str(obj.get("payload")) or _str(obj.get("text"))
        return "template_button", payload, None, {"title": _str(obj.get("text"))}
    if raw_type in MEDIA_KINDS and obj.get("id"):
        media = MediaRef(
            media_id=_id(obj["id"], WAMID_MAX),
            mime_type=_str(obj.get("mime_type")),
            sha256=_str(obj.get("sha256")),
            url=_str(obj.get("url")) or None,
            filename=_str(obj.get("filename")) or None,
            caption=_str(obj.get("caption")) or None,
        )
        extra = {k: bool(obj[k]) for k in ("voice", "animated") if k in obj}
        return raw_type, media.caption or "", media, extra
    if raw_type in _PLAIN_KINDS:
        return raw_type, "", None, _plain_details(raw_type, obj)
    unsupported = _str(obj.get("type")) if raw_type == "unsupported" else raw_type
    return "unsupported", "", None, {"type": unsupported or "missing"}


def _plain_details(kind: str, obj: Any) -> dict[str, Any]:
    """Return the few fields of a location, contacts, reaction, order or system message."""
    if kind == "location":
        return _typed(obj, {"latitude": _float, "longitude": _float, "name": _str, "address": _str}, present=True)
    if kind == "reaction":  # no emoji means the user removed the reaction
        return {"message_id": _str(obj.get("message_id")), "emoji": _str(obj.get("emoji"))}
    if kind == "order":
        items = [
            _typed(i, {"product_retailer_id": _str, "quantity": _int, "item_price": _float, "currency": _str})
            for i in _list(obj.get("product_items"))
            if isinstance(i, dict)
        ]
        return {"catalog_id": _str(obj.get("catalog_id")), "text": _str(obj.get("text")), "items": items}
    if kind == "system":
        return {"type": _str(obj.get("type")), "new_wa_id": _str(obj.get("wa_id") or obj.get("user_id"))}
    cards = [c for c in _list(obj) if isinstance(c, dict)]  # contacts: an array, not an object
    return {"count": len(cards)}  # third-party personal data stays out of the tracker


def _status(item: dict[str, Any], number: str) -> StatusUpdate:
    """Build one StatusUpdate; an unexpected status value becomes "unknown"."""
    status = _str(item.get("status")).lower()
    return StatusUpdate(
        wamid=_id(item.get("id"), WAMID_MAX),
        status=status if status in STATUSES else "unknown",
        recipient_id=_id(item.get("recipient_id") or item.get("recipient_user_id")),
        timestamp=_int(item.get("timestamp")),
        phone_number_id=number,
        error_codes=tuple(_code(e.get("code")) for e in _list(item.get("errors")) if isinstance(e, dict)),
        callback_data=_str(item.get("biz_opaque_callback_data")),
    )


def _preference(item: dict[str, Any], number: str) -> PreferenceUpdate:
    """Build one PreferenceUpdate from `value.user_preferences[]`."""
    return PreferenceUpdate(
        wa_id=_id(item.get("wa_id") or item.get("user_id")),
        value=_str(item.get("value")),
        category=_str(item.get("category")),
        timestamp=_int(item.get("timestamp")),
        phone_number_id=number,
    )


def _webhook_error(item: dict[str, Any], number: str) -> WebhookError:
    """Build one WebhookError from `value.errors[]`; branch on its code, never its text."""
    details = _str(_dict(item.get("error_data")).get("details")) or _str(item.get("message"))
    return WebhookError(_code(item.get("code")), _str(item.get("title")), details, number)


def _typed(obj: dict[str, Any], fields: Mapping[str, Callable[[Any], Any]], present: bool = False) -> dict[str, Any]:
    """Return obj's fields, each through its converter (a missing or null one stays None; present:
    only the fields obj has). Hostile JSON (NaN, huge numbers, nested objects) never reaches the store."""
    return {k: None if obj.get(k) is None else convert(obj[k])
            for k, convert in fields.items() if not present or k in obj}


def _profile_names(contacts: Any) -> dict[str, str]:
    """Map wa_id and user_id to the profile name from `value.contacts[]`."""
    names: dict[str, str] = {}
    for contact in _list(contacts):
        if not isinstance(contact, dict):
            continue
        name = _str(_dict(contact.get("profile")).get("name"))[:NAME_MAX]
        for key in ("wa_id", "user_id"):
            if contact.get(key) and name:
                names[_id(contact[key])] = name
    return names


def _sole_contact(contacts: Any) -> tuple[str, str]:
    """Return (wa_id or else user_id, user_id) of `value.contacts[]` when it names exactly one person."""
    people = [c for c in _list(contacts) if isinstance(c, dict)]
    if len(people) != 1:
        return "", ""
    user_id = _id(people[0].get("user_id"))
    return _id(people[0].get("wa_id")) or user_id, user_id


def _context(raw: Any) -> ContextRef | None:
    """Return the quoted wamid and forward flag, or None when the message has no context."""
    if not isinstance(raw, dict) or not raw:
        return None
    forwarded = bool(raw.get("forwarded") or raw.get("frequently_forwarded"))
    return ContextRef(replied_to=_str(raw.get("id")) or None, forwarded=forwarded)


def _dict(value: Any) -> dict[str, Any]:
    """Return value if it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """Return value if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    """Return value as a string a database can store; None becomes "".

    NUL is dropped and a lone surrogate (valid in JSON's \\u escapes, not in UTF-8) becomes "?":
    PostgreSQL refuses the one and every driver the other, and a refused delivery is resent for days.
    """
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _id(value: Any, limit: int = ID_MAX) -> str:
    """Return an id (wamid, wa_id, media id) as a string, or "" if it is longer than any of Meta's."""
    text = _str(value)
    return text if len(text) <= limit else ""


def _int(value: Any, bits: int = 64) -> int:
    """Return value as an int of that many bits (Meta sends timestamps as strings); junk or out of range becomes 0.

    64 bits for timestamps and prices, 32 for error codes (the store's column).
    """
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        return 0
    return number if -(2 ** (bits - 1)) <= number < 2 ** (bits - 1) else 0


def _code(value: Any) -> int:
    """Return an error code (32-bit)."""
    return _int(value, 32)


def _float(value: Any) -> float | None:
    """Return value as a finite float (a coordinate, a price), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
