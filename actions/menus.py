"""Conversation plumbing: session greeting, numbers no menu offers, and MORE."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted
from rasa_sdk.executor import CollectingDispatcher

from actions.common import caller, say_not_registered, settings
from actions.defects import show_defects_page
from actions.orders import show_orders_page
from actions.schedule import show_runs_page
from components.choices import last_offer


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        person = await caller(tracker)
        hello = f"Hello {person.name.split()[0]} 👋" if person else "Hello 👋"
        dispatcher.utter_message(text=f"{hello} Welcome to {settings().company} on WhatsApp.")
        return [SessionStarted(), ActionExecuted("action_listen")]


def choose_hint(buttons: List[Dict[str, Any]]) -> str:
    """Say which numbers the last choices accept."""
    if len(buttons) == 1:
        return f"Please reply 1 for *{buttons[0].get('title', '')}*."
    return f"Please choose a number from 1 to {len(buttons)}."


class ActionInvalidChoice(Action):
    def name(self) -> Text:
        return "action_invalid_choice"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        text, buttons = last_offer(tracker.events, domain.get("responses", {}))
        if buttons:
            dispatcher.utter_message(text=choose_hint(buttons))
            if not tracker.active_loop.get("name"):
                # Inside a form the form asks its question again right after this.
                dispatcher.utter_message(text=text, buttons=buttons)
        else:
            dispatcher.utter_message(text="There's no numbered list open right now.")
            dispatcher.utter_message(response="utter_main_menu")
        return []


class ActionShowMore(Action):
    def name(self) -> Text:
        return "action_show_more"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        kind, _, offset = (tracker.get_slot("more_context") or "").partition(":")
        if not offset.isdigit():
            dispatcher.utter_message(text="There's nothing more to show. Type *menu* for options.")
            return []
        person = await caller(tracker)
        if person is None:
            say_not_registered(dispatcher)
            return []
        if kind == "orders":
            return await show_orders_page(dispatcher, tracker.sender_id, int(offset), person.is_staff)
        if kind == "defects":
            return await show_defects_page(dispatcher, tracker.sender_id, int(offset), person.is_staff)
        return await show_runs_page(dispatcher, tracker.sender_id, person.is_staff, int(offset), kind)
