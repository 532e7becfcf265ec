"""Ask instead of guessing: "Did you mean …?" with the likeliest options, then the menu or a person.

The NLU marks a message it is unsure of `nlu_fallback` and keeps its ranking. An unclear message
gets up to three of the ranked intents as buttons plus "Something else"; a second unclear message
right after gets utter_default and the menu (a rule in data/rules/main_menu.yml). Inside a form,
an unclear answer gets the form's own question again with a hint instead (action_form_hint).
Option building is pure.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

ACTION_NAME = "action_clarify"
MAX_OPTIONS = 3
# Options worth offering need a little support from the classifier; below this they are noise.
MIN_OPTION_CONFIDENCE = 0.05
SOMETHING_ELSE = {"title": "Something else", "payload": "/menu_main"}
ASK_TEXT = "Sorry, I'm not sure I understood. Did you mean:"
# What each intent means to the customer, as a button title (at most 20 characters: a WhatsApp
# reply button). Intents missing here are never offered (greetings, yes/no, numbers, ...).
OPTION_TITLES: Mapping[str, str] = {
    "track_order": "Track an order",
    "delivery_estimate": "Delivery date",
    "view_recent_orders": "My recent orders",
    "change_order": "Cancel/change order",
    "request_document": "Invoice/documents",
    "price_quote": "Prices & quotes",
    "report_defect": "Report a defect",
    "defect_history": "My defect reports",
    "track_defect": "Defect status",
    "schedule_today": "Today's production",
    "schedule_week": "This week's plan",
    "production_status": "Production status",
    "report_issue": "Billing/other issue",
    "contact_support": "Contact support",
    "human_handoff": "Talk to a person",
    "menu_faq": "FAQs",
    "faq": "FAQs",
    "menu_orders": "Orders",
    "menu_defects": "Defects",
    "menu_schedule": "Production schedule",
    "menu_support": "Help & support",
}
# An FAQ option asks the topic's question, exactly like a tap in the FAQ menu.
FAQ_QUESTIONS: Mapping[str, tuple[str, str]] = {
    "faq/payment_terms": ("Payment terms", "What are your payment terms?"),
    "faq/minimum_order_quantity": ("Minimum order qty", "What is the minimum order quantity?"),
    "faq/shipping": ("Shipping", "How do you ship orders?"),
    "faq/returns": ("Returns", "What is your returns policy?"),
    "faq/certifications": ("Certifications", "Which certifications do you have?"),
    "faq/samples": ("Samples", "Can I get samples?"),
    "faq/working_hours": ("Working hours", "What are your working hours?"),
    "faq/lead_times": ("Lead times", "What are your lead times?"),
}
# Entities worth carrying into the option's payload, so a tap keeps "ORD-10001".
CARRIED_ENTITIES = ("order_id", "defect_id")


def clarify_options(parse: Mapping[str, Any]) -> List[Dict[str, str]]:
    """Return up to MAX_OPTIONS buttons for the likeliest intents of a parsed message, then "Something else"."""
    entities = {e.get("entity"): e.get("value") for e in parse.get("entities") or []
                if e.get("entity") in CARRIED_ENTITIES and e.get("value")}
    suffix = json.dumps(entities, separators=(",", ":")) if entities else ""
    options: List[Dict[str, str]] = []
    seen: set[str] = set()
    for ranked in parse.get("intent_ranking") or []:
        name = str(ranked.get("name") or "")
        if float(ranked.get("confidence") or 0.0) < MIN_OPTION_CONFIDENCE or len(options) >= MAX_OPTIONS:
            break
        button = _faq_button(parse) if name == "faq" else _intent_button(name, suffix)
        if button and button["title"] not in seen:
            seen.add(button["title"])
            options.append(button)
    return [*options, dict(SOMETHING_ELSE)]


def _intent_button(name: str, suffix: str) -> Optional[Dict[str, str]]:
    title = OPTION_TITLES.get(name)
    return {"title": title, "payload": f"/{name}{suffix}"} if title else None


def _faq_button(parse: Mapping[str, Any]) -> Dict[str, str]:
    """Offer the FAQ topic the ResponseSelector ranked first, or the FAQ list."""
    # The same as components.faq_gate.faq_topic, which the action server does not import (it would load skops).
    selector = ((parse.get("response_selector") or {}).get("faq") or {})
    ranking = selector.get("ranking") or []
    key = str(ranking[0].get("intent_response_key") or "") if ranking else ""
    if key in FAQ_QUESTIONS:
        title, question = FAQ_QUESTIONS[key]
        return {"title": title, "payload": question}
    return {"title": OPTION_TITLES["menu_faq"], "payload": "/menu_faq"}


class ActionClarify(Action):
    def name(self) -> Text:
        return ACTION_NAME

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        options = clarify_options(tracker.latest_message)
        if len(options) == 1:  # nothing likely to offer ("who won the match", "🙏🙏"): a question would be empty
            dispatcher.utter_message(response="utter_default")
            dispatcher.utter_message(response="utter_main_menu")
            return []
        dispatcher.utter_message(text=ASK_TEXT, buttons=options)
        return []


FORM_HINTS: Mapping[str, str] = {
    "defect_order_id": "Sorry, I didn't catch which order.",
    "defect_photo": "I was expecting a photo of the defect.",
    "defect_confirmed": "Please reply *yes* to submit the report or *no* to cancel it.",
    "document_order_id": "Sorry, I didn't catch which order.",
    "document_kind": "Sorry, I didn't catch which document.",
}


class ActionFormHint(Action):
    """Say what the form is waiting for; the form then asks its question again."""

    def name(self) -> Text:
        return "action_form_hint"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        hint = FORM_HINTS.get(tracker.get_slot("requested_slot") or "")
        if hint:  # a free-text step takes the message as it is: nothing to add
            dispatcher.utter_message(text=hint)
        return []
