"""Defects menu: history and tracking of defect reports (the report itself is a form)."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import formatting as fmt
from actions.common import caller, db, latest_entity, say_not_registered, today
from database import defects
from actions.parsing import first_normalized, normalize_defect_id


async def show_defects_page(
    dispatcher: CollectingDispatcher, wa_id: str, offset: int, is_staff: bool = False
) -> List[EventType]:
    """Show one page of defect reports, newest first, each a button to track it."""
    total = await db(defects.count_defects, wa_id)
    if total == 0:
        dispatcher.utter_message(text="You have no defect reports. To report one, choose *Report a defect*.")
        return [SlotSet("more_context", None)]
    items = await db(defects.defect_history, wa_id, fmt.PAGE_SIZE, offset)
    day = today()
    shown_to = offset + len(items)
    text = fmt.join_blocks(
        f"🛠️ {'Defect reports, all customers' if is_staff else 'Your defect reports'} "
        f"({offset + 1}–{shown_to} of {total}):",
        [fmt.defect_row(d, day) for d in items],
        fmt.page_footer(shown_to, total),
    )
    dispatcher.utter_message(text=text, buttons=defect_buttons(items))
    return [SlotSet("more_context", f"defects:{shown_to}" if shown_to < total else None)]


def defect_buttons(items) -> List[Dict[str, str]]:
    """Offer defect reports as buttons that track that report."""
    return [
        {"title": f"{d.ref} · {fmt.DEFECT_STATUS.get(d.status, (d.status, ''))[0]}",
         "payload": "/track_defect" + json.dumps({"defect_id": d.ref}, separators=(",", ":"))}
        for d in items
    ]


class ActionDefectHistory(Action):
    def name(self) -> Text:
        return "action_defect_history"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        person = await caller(tracker)
        if person is None:
            say_not_registered(dispatcher)
            return []
        return await show_defects_page(dispatcher, tracker.sender_id, 0, person.is_staff)


class ActionTrackDefect(Action):
    def name(self) -> Text:
        return "action_track_defect"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        if await caller(tracker) is None:
            say_not_registered(dispatcher)
            return []
        ref = first_normalized(
            [latest_entity(tracker, "defect_id"), tracker.latest_message.get("text")],
            normalize_defect_id,
        )
        if ref is None:
            recent = await db(defects.defect_history, tracker.sender_id, fmt.PAGE_SIZE, 0)
            if not recent:
                dispatcher.utter_message(text="You have no defect reports to track.")
                return []
            dispatcher.utter_message(
                text="Which report? Tap one below or type the report ID (e.g. DEF-1234).",
                buttons=defect_buttons(recent),
            )
            return []
        defect = await db(defects.find_defect, tracker.sender_id, ref)
        if defect is None:
            dispatcher.utter_message(
                text=f"I couldn't find {ref} on your account. Please check the number, "
                "or choose *View defect history*."
            )
            return []
        dispatcher.utter_message(text=fmt.defect_status(defect, today()))
        return []
