"""Webhook deliveries as Meta builds them: message and status envelopes, wire bytes, signature.

Pure: wamids and timestamps come in as arguments (`new_wamid()` is the one helper that invents).
Shapes follow shared/whatsapp/payloads/{text,button_reply,list_reply,image_with_caption,
template_quick_reply_button,status_*}.json; wire form and signature follow README sections 3 and 5.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any, Optional

SIGNATURE_HEADER = "X-Hub-Signature-256"
STATUS_ORDER = ("sent", "delivered", "read")
_PRICING = {"billable": False, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"}


@dataclass(frozen=True)
class Business:
    """The WhatsApp Business number the simulated users write to."""

    phone_number_id: str
    business_account_id: str = "102030405060"
    display_phone_number: str = "15550001234"


def new_wamid() -> str:
    """Return a fresh, recognisably simulated wamid ("wamid.SIM...")."""
    return "wamid.SIM" + uuid.uuid4().hex.upper()


def message_delivery(business: Business, wa_id: str, profile_name: str, message: dict[str, Any]) -> dict[str, Any]:
    """Wrap one inbound message in Meta's envelope (object > entry > changes > value)."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": _metadata(business),
        "contacts": [{"profile": {"name": profile_name}, "wa_id": wa_id}],
        "messages": [message],
    }
    return _envelope(business, value)


def status_delivery(business: Business, wamid: str, status: str, recipient_id: str, timestamp: int,
                    callback_data: Optional[str] = None) -> dict[str, Any]:
    """Wrap one status of a business message (sent, delivered, read) in Meta's envelope."""
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(timestamp),
                            "recipient_id": recipient_id}
    if callback_data:
        item["biz_opaque_callback_data"] = callback_data
    if status in ("sent", "delivered"):  # pricing rides on sent and on delivered, not on read
        item["pricing"] = dict(_PRICING)
    return _envelope(business, {"messaging_product": "whatsapp", "metadata": _metadata(business),
                                "statuses": [item]})


def text_message(wa_id: str, wamid: str, timestamp: int, body: str) -> dict[str, Any]:
    """Return a typed text message."""
    return {**_common(wa_id, wamid, timestamp, "text"), "text": {"body": body}}


def button_reply_message(wa_id: str, wamid: str, timestamp: int, context: dict[str, str],
                         reply_id: str, title: str) -> dict[str, Any]:
    """Return a tap on a reply button; context names the business message that held it."""
    reply = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
    return {"context": context, **_common(wa_id, wamid, timestamp, "interactive"), "interactive": reply}


def list_reply_message(wa_id: str, wamid: str, timestamp: int, context: dict[str, str], row_id: str,
                       title: str, description: Optional[str] = None) -> dict[str, Any]:
    """Return a tap on a list row; context names the list message."""
    row = {"id": row_id, "title": title}
    if description:
        row["description"] = description
    reply = {"type": "list_reply", "list_reply": row}
    return {"context": context, **_common(wa_id, wamid, timestamp, "interactive"), "interactive": reply}


def template_button_message(wa_id: str, wamid: str, timestamp: int, context: dict[str, str],
                            payload: str, text: str) -> dict[str, Any]:
    """Return a tap on a template's quick-reply button."""
    return {"context": context, **_common(wa_id, wamid, timestamp, "button"),
            "button": {"payload": payload, "text": text}}


def image_message(wa_id: str, wamid: str, timestamp: int, media_id: str, mime_type: str, data: bytes,
                  caption: Optional[str] = None) -> dict[str, Any]:
    """Return a photo by media id (no url, so the channel uses the Graph media lookup)."""
    image: dict[str, Any] = {"mime_type": mime_type, "sha256": media_sha256(data), "id": media_id}
    if caption:
        image = {"caption": caption, **image}
    return {**_common(wa_id, wamid, timestamp, "image"), "image": image}


def context_of(business: Business, wamid: str) -> dict[str, str]:
    """Return the context a tap carries: the business number and the tapped message's wamid."""
    return {"from": business.display_phone_number, "id": wamid}


def media_sha256(data: bytes) -> str:
    """Return the media hash as webhooks carry it: base64 of the SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def encode_delivery(delivery: dict[str, Any]) -> bytes:
    """Return the wire bytes: compact JSON, non-ASCII escaped as \\uXXXX (Meta's escaped form)."""
    return json.dumps(delivery, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign(app_secret: str, body: bytes) -> str:
    """Return the X-Hub-Signature-256 value: sha256= and the HMAC-SHA256 hex of the body bytes."""
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _common(wa_id: str, wamid: str, timestamp: int, kind: str) -> dict[str, Any]:
    """Return the keys every inbound message has."""
    return {"from": wa_id, "id": wamid, "timestamp": str(timestamp), "type": kind}


def _metadata(business: Business) -> dict[str, str]:
    """Return value.metadata for this business number."""
    return {"display_phone_number": business.display_phone_number, "phone_number_id": business.phone_number_id}


def _envelope(business: Business, value: dict[str, Any]) -> dict[str, Any]:
    """Wrap a change value in object > entry > changes."""
    return {"object": "whatsapp_business_account",
            "entry": [{"id": business.business_account_id,
                       "changes": [{"value": value, "field": "messages"}]}]}
