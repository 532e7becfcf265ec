"""Documents on request: the invoice, packing list or test certificate of one of the caller's orders.

`document_form` asks for the order and the kind when the request did not name them; the submit
sends the document as a custom payload that the WhatsApp channel turns into a document message
(connectors/whatsapp/render.py), or names it in text on other channels. Someone else's order gets
the same answer as a missing one, exactly as the order status does.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import formatting as fmt
from actions.common import CallerForm, caller, db, say_not_registered
from database import documents, orders
from database.views import DocumentView
from database.document_files import KINDS, kind_label, normalize_kind
from actions.parsing import normalize_order_id

DOCUMENT_SLOTS = ("document_order_id", "document_kind")
MISSING_SLOT = "document_missing"  # true after a request for a document we do not have: offer a person
WHATSAPP = "whatsapp"


def not_found_text(ref: str) -> str:
    """Return the answer for an order the caller cannot see: the same words as the order status gives."""
    return (f"I couldn't find {ref} on your account. Please check the number, "
            "or choose *View recent orders* in the Orders menu.")


def caption(document: DocumentView) -> str:
    """Return the short caption under the document: what it is and for which order."""
    return f"📄 {kind_label(document.kind)} for {document.order_ref}"


def document_payload(document: DocumentView) -> Dict[str, Any]:
    """Return the custom payload the WhatsApp channel renders as a document (or image) message."""
    body: Dict[str, Any] = {"order_ref": document.order_ref, "kind": document.kind,
                            "filename": document.filename, "content_type": document.content_type,
                            "caption": caption(document)}
    if document.url:
        body["url"] = document.url
    else:
        body.update(path=document.storage_path, sha256=document.sha256, size=document.size_bytes)
    return {"document": body}


def text_fallback(document: DocumentView) -> str:
    """Return the answer for channels that cannot carry a file: the document named, and where it is."""
    size = f", {fmt_size(document.size_bytes)}" if document.size_bytes else ""
    where = f"\n{document.url}" if document.url else "\nIt is sent as a file on WhatsApp."
    return f"{caption(document)}: {document.filename}{size}.{where}"


def fmt_size(size: Optional[int]) -> str:
    """Return a file size for people ("240 KB", "1.5 MB")."""
    if not size:
        return ""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def missing_text(kind: str, ref: str) -> str:
    """Return the answer when the order has no such document yet."""
    return (f"I don't have the {kind_label(kind).lower()} for {ref} here yet. "
            "Our accounts team can send it to you.")


class ValidateDocumentForm(CallerForm):
    def name(self) -> Text:
        return "validate_document_form"

    async def extract_document_kind(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        # "ORD-10001 ka bill bhejo", "ORD-10002 invoice" (answering "which order?") and a typed
        # "packing list" name the kind in words, not as an entity.
        if tracker.get_slot("document_kind"):
            return {}
        text = str(tracker.latest_message.get("text") or "")
        kind = None if text.startswith("/") else normalize_kind(text)
        return {"document_kind": kind} if kind else {}

    async def validate_document_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        ref = normalize_order_id(str(value or ""))
        order = await db(orders.find_order, tracker.sender_id, ref) if ref else None
        if order is None:
            dispatcher.utter_message(text=not_found_text(ref or str(value or "that order")))
            return {"document_order_id": None}
        return {"document_order_id": order.ref}

    async def validate_document_kind(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        kind = normalize_kind(str(value or ""))
        if kind is None:
            dispatcher.utter_message(text="I can send the invoice, the packing list or the test certificate.")
        return {"document_kind": kind}


class ActionAskDocumentOrderId(Action):
    def name(self) -> Text:
        return "action_ask_document_order_id"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        kind = tracker.get_slot("document_kind")
        what = f"the {kind_label(kind).lower()}" if kind in KINDS else "a document"
        recent = await db(orders.recent_orders, tracker.sender_id, fmt.PAGE_SIZE, 0)
        buttons = [
            {"title": f"{o.ref} · {o.product}",
             "payload": "/inform" + json.dumps({"order_id": o.ref}, separators=(",", ":"))}
            for o in recent
        ]
        dispatcher.utter_message(
            text=f"Which order do you need {what} for? Tap one or type the order ID (e.g. ORD-12345). "
                 "Type *cancel* to stop.",
            buttons=buttons,
        )
        return []


class ActionAskDocumentKind(Action):
    def name(self) -> Text:
        return "action_ask_document_kind"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(
            text=f"Which document of {tracker.get_slot('document_order_id')} do you need?",
            buttons=[{"title": label,
                      "payload": "/inform" + json.dumps({"document_kind": kind}, separators=(",", ":"))}
                     for kind, label in KINDS.items()],
        )
        return []


class ActionSendDocument(Action):
    def name(self) -> Text:
        return "action_send_document"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        reset = [SlotSet(slot, None) for slot in DOCUMENT_SLOTS]
        if await caller(tracker) is None:
            say_not_registered(dispatcher)
            return [*reset, SlotSet(MISSING_SLOT, False)]
        ref, kind = tracker.get_slot("document_order_id"), tracker.get_slot("document_kind")
        document = await db(documents.find_document, tracker.sender_id, ref, kind) if ref and kind else None
        if document is None:
            if ref and await db(orders.find_order, tracker.sender_id, ref) is None:
                dispatcher.utter_message(text=not_found_text(ref))  # never "no invoice" for someone else's order
                return [*reset, SlotSet(MISSING_SLOT, False)]
            dispatcher.utter_message(text=missing_text(kind or "document", ref or "that order"))
            return [*reset, SlotSet(MISSING_SLOT, True)]
        if tracker.get_latest_input_channel() == WHATSAPP:
            dispatcher.utter_message(json_message=document_payload(document))
        else:
            dispatcher.utter_message(text=text_fallback(document))
        return [*reset, SlotSet(MISSING_SLOT, False)]
