"""Schedule menu: today's runs, the coming week, and what is on the lines now."""
from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import formatting as fmt
from actions.common import caller, db, say_not_registered, settings, today
from database import schedule
from database.clock import local_day_bounds


async def show_runs_page(
    dispatcher: CollectingDispatcher, wa_id: str, is_staff: bool, offset: int, span: str
) -> List[EventType]:
    """Show one page of the runs of today ("today") or the coming seven days ("week")."""
    day = today()
    first, last = (day, day) if span == "today" else fmt.week_bounds(day)
    start, end = local_day_bounds(first)[0], local_day_bounds(last)[1]
    runs = await db(schedule.runs_between, wa_id, start, end)
    whose = "on the lines" if is_staff else "for your orders"
    when = f"today ({day:%a} {day.day} {day:%b})" if span == "today" else "in the next 7 days"
    if not runs:
        hint = " Try *This week's schedule*." if span == "today" else ""
        dispatcher.utter_message(text=f"Nothing is scheduled {whose} {when}.{hint}")
        return [SlotSet("more_context", None)]
    page = runs[offset : offset + fmt.PAGE_SIZE]
    shown_to = offset + len(page)
    tz = settings().timezone
    text = fmt.join_lines(
        f"🏭 {len(runs)} run{'s' if len(runs) != 1 else ''} {whose} {when}:",
        [fmt.run_row(r, day, tz, with_day=span != "today") for r in page],
        fmt.page_footer(shown_to, len(runs)),
    )
    dispatcher.utter_message(text=text)
    return [SlotSet("more_context", f"{span}:{shown_to}" if shown_to < len(runs) else None)]


class _RunsAction(Action, ABC):
    @abstractmethod
    def name(self) -> Text:
        """Return the action's name as the domain lists it."""

    span = ""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        person = await caller(tracker)
        if person is None:
            say_not_registered(dispatcher)
            return []
        return await show_runs_page(dispatcher, tracker.sender_id, person.is_staff, 0, self.span)


class ActionScheduleToday(_RunsAction):
    span = "today"

    def name(self) -> Text:
        return "action_schedule_today"


class ActionScheduleWeek(_RunsAction):
    span = "week"

    def name(self) -> Text:
        return "action_schedule_week"


class ActionProductionStatus(Action):
    def name(self) -> Text:
        return "action_production_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        person = await caller(tracker)
        if person is None:
            say_not_registered(dispatcher)
            return []
        runs = await db(schedule.active_runs, tracker.sender_id, datetime.utcnow())
        if not runs:
            whose = "Nothing is" if person.is_staff else "None of your orders is"
            dispatcher.utter_message(text=f"{whose} on a production line right now.")
            return []
        tz = settings().timezone
        header = "⚙️ On the lines now:" if person.is_staff else "⚙️ Your orders in production now:"
        day = today()
        blocks = [fmt.run_progress(r, day, tz) for r in runs[: fmt.PAGE_SIZE]]
        extra = f"…and {len(runs) - fmt.PAGE_SIZE} more." if len(runs) > fmt.PAGE_SIZE else ""
        dispatcher.utter_message(text=fmt.join_lines(header, blocks, extra))
        return []
