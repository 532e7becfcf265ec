"""Pure: turn stored messages into what the inbox shows, as the customer saw them.

An inbound row becomes what the customer sent (a tap shows the title they tapped, not its payload);
an outbox row becomes what their phone showed (text, reply buttons, a list with its rows, media with
caption, a template by name) with Meta's delivery status. Every string stays plain text: the page puts
it into the DOM with textContent, never as HTML.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

MEDIA_KINDS = ("image", "document", "video", "audio", "sticker")
TICKS = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}


def iso(moment: Optional[datetime]) -> Optional[str]:
    """Return a naive UTC datetime as RFC 3339 with Z, or None."""
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def inbound_item(row_id: int, kind: str, text: str, meta: Mapping[str, Any], at: datetime,
                 downloaded: bool) -> dict[str, Any]:
    """Return one customer message for the page."""
    meta = meta if isinstance(meta, Mapping) else {}
    details = meta.get("details") if isinstance(meta.get("details"), Mapping) else {}
    item: dict[str, Any] = {"id": f"in:{row_id}", "direction": "in", "at": iso(at), "kind": kind, "text": text}
    if kind in ("button_reply", "list_reply", "template_button"):
        item["kind"] = "tap"
        item["text"] = str(details.get("title") or text)
        if details.get("description"):
            item["description"] = str(details["description"])
    elif kind in MEDIA_KINDS:
        media = meta.get("media") if isinstance(meta.get("media"), Mapping) else {}
        item["media"] = {"kind": kind, "mime_type": str(media.get("mime_type") or ""),
                         "filename": media.get("filename"), "caption": media.get("caption"),
                         "url": f"media/{row_id}" if downloaded else None}
        item["text"] = str(media.get("caption") or "")
    elif kind == "location":
        parts = [str(details[k]) for k in ("name", "address") if details.get(k)]
        if "latitude" in details and "longitude" in details:
            parts.append(f"{details['latitude']}, {details['longitude']}")
        item["text"] = " · ".join(parts) or "Location"
    elif kind == "reaction":
        item["text"] = str(details.get("emoji") or "(reaction removed)")
    elif kind == "contacts":
        item["text"] = f"{details.get('count', 0)} contact card(s)"
    elif kind not in ("text",):
        item["text"] = text or f"[{kind} message]"
    return item


def outbound_item(row_id: int, payload: Mapping[str, Any], at: datetime, origin: str, state: str,
                  delivery_status: Optional[str], error: Optional[str], author: Optional[str]) -> dict[str, Any]:
    """Return one message we sent (or are sending) for the page."""
    payload = payload if isinstance(payload, Mapping) else {}
    kind = str(payload.get("type") or "text")
    body = payload.get(kind) if isinstance(payload.get(kind), Mapping) else {}
    item: dict[str, Any] = {"id": f"out:{row_id}", "direction": "out", "at": iso(at), "kind": kind,
                            "from": origin, "author": author, "ticks": ticks_of(state, delivery_status),
                            "error": error if state == "failed" or delivery_status == "failed" else None}
    if kind == "text":
        item["text"] = str(body.get("body") or "")
    elif kind == "interactive":
        item.update(_interactive(body))
    elif kind == "template":
        item["text"] = ""
        item["template"] = str(body.get("name") or "")
    elif kind in MEDIA_KINDS:
        link = str(body.get("link") or "")
        item["text"] = str(body.get("caption") or "")
        item["media"] = {"kind": kind, "filename": body.get("filename"), "caption": body.get("caption"),
                         "url": link if urlsplit(link).scheme in ("http", "https") else None}
    else:
        item["text"] = f"[{kind}]"
    return item


def ticks_of(state: str, delivery_status: Optional[str]) -> str:
    """Return the tick the customer's phone would justify: queued, sent, delivered, read or failed."""
    if state == "failed":
        return "failed"
    if delivery_status in TICKS:
        return TICKS[delivery_status]
    return "sent" if state == "sent" else "queued"


def _interactive(body: Mapping[str, Any]) -> dict[str, Any]:
    """Return the text, buttons or list of an interactive message."""
    kind = str(body.get("type") or "")
    header = body.get("header") if isinstance(body.get("header"), Mapping) else {}
    out: dict[str, Any] = {"text": str(_get(body, "body", "text") or ""), "header": header.get("text"),
                           "footer": _get(body, "footer", "text")}
    action = body.get("action") if isinstance(body.get("action"), Mapping) else {}
    if kind == "button":
        out["buttons"] = [str(_get(b, "reply", "title") or "") for b in action.get("buttons") or []
                          if isinstance(b, Mapping)]
    elif kind == "list":
        out["list_button"] = str(action.get("button") or "")
        out["sections"] = [{"title": s.get("title"),
                            "rows": [{"title": str(r.get("title") or ""), "description": r.get("description")}
                                     for r in s.get("rows") or [] if isinstance(r, Mapping)]}
                           for s in action.get("sections") or [] if isinstance(s, Mapping)]
    return out


def _get(value: Any, *keys: str) -> Any:
    """Return value[k1][k2]... or None when any step is missing."""
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def waited_seconds(since: Optional[datetime], now: datetime) -> Optional[int]:
    """Return whole seconds since a moment (None without one)."""
    return None if since is None else max(0, int((now - since).total_seconds()))


def conversation_state(handoff_open: bool, handled_by: Optional[str]) -> str:
    """Return "waiting" (asked for a person, nobody yet), "with_staff" or "bot"."""
    if not handoff_open:
        return "bot"
    return "with_staff" if handled_by else "waiting"
