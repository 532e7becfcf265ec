"""Help menu: support contacts and asking for a person (FAQ answers are retrieval responses)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import db, settings
from actions.forms import form_ended
from database import handoffs

# Only a WhatsApp conversation can be paused and answered by staff; the REST channel and
# `rasa shell` are local tools whose sender id is whatever the caller says.
HANDOFF_CHANNELS = frozenset({"whatsapp"})


class ActionContactSupport(Action):
    def name(self) -> Text:
        return "action_contact_support"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        s = settings()
        dispatcher.utter_message(
            text=(
                "You can reach our support team:\n"
                f"📞 {s.support_phone}\n✉️ {s.support_email}\n🕘 {s.support_hours}"
            )
        )
        return []


class ActionRequestHandoff(Action):
    def name(self) -> Text:
        return "action_request_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        if tracker.get_latest_input_channel() in HANDOFF_CHANNELS:
            # A row in `handoffs` pauses the bot for this number until staff or the idle timer
            # hand it back (connectors/management/handoff.py).
            await db(handoffs.request_handoff, tracker.sender_id)
        s = settings()
        dispatcher.utter_message(
            text=(
                "👤 I've asked a colleague to take over this chat. "
                f"Expected wait: {s.handoff_wait} ({s.support_hours})."
            )
        )
        # The slot is the signal a channel or operator tool acts on. A form the customer was in
        # ends: the person takes it from here, and the bot must not ask its next question.
        ended = form_ended() if tracker.active_loop_name else []
        return [*ended, SlotSet("handoff_requested", True)]
