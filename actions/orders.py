"""Orders menu: recent orders, one order's status, its estimated delivery."""
from __future__ import annotations

from abc import ABC, abstractmethod
import json
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import formatting as fmt
from actions.common import caller, db, latest_entity, say_not_registered, today
from database import orders
from actions.parsing import first_normalized, normalize_order_id, orders_named


def requested_order_id(tracker: Tracker) -> str | None:
    """Return the order id the user gave in this message, normalized."""
    candidates = [latest_entity(tracker, "order_id"), tracker.latest_message.get("text")]
    return first_normalized(candidates, normalize_order_id)


# A product named without an order id is looked for among this many of the customer's latest orders.
NAMED_AMONG = 20


def order_buttons(items, intent: str) -> List[Dict[str, str]]:
    """Offer orders as buttons that ask the same question about that order."""
    return [
        {"title": f"{o.ref} · {fmt.ORDER_STATUS.get(o.status, (o.status, ''))[0]}",
         "payload": f"/{intent}{json.dumps({'order_id': o.ref}, separators=(',', ':'))}"}
        for o in items
    ]


async def show_orders_page(
    dispatcher: CollectingDispatcher, wa_id: str, offset: int, is_staff: bool = False
) -> List[EventType]:
    """Show one page of recent orders, each a button to see its status."""
    total = await db(orders.count_orders, wa_id)
    if total == 0:
        dispatcher.utter_message(text="You have no orders with us yet.")
        return [SlotSet("more_context", None)]
    items = await db(orders.recent_orders, wa_id, fmt.PAGE_SIZE, offset)
    day = today()
    shown_to = offset + len(items)
    whose = "Recent orders, all customers" if is_staff else "Your recent orders"
    header = f"📦 {whose} ({offset + 1}–{shown_to} of {total}):"
    text = fmt.join_blocks(
        header, [fmt.order_row(o, day, is_staff) for o in items], fmt.page_footer(shown_to, total)
    )
    dispatcher.utter_message(text=text, buttons=order_buttons(items, "track_order"))
    more = f"orders:{shown_to}" if shown_to < total else None
    return [SlotSet("more_context", more)]


class ActionShowRecentOrders(Action):
    def name(self) -> Text:
        return "action_show_recent_orders"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        person = await caller(tracker)
        if person is None:
            say_not_registered(dispatcher)
            return []
        return await show_orders_page(dispatcher, tracker.sender_id, 0, person.is_staff)


class _OrderQuestion(Action, ABC):
    """Answer a question about one order, asking which order when none was given."""
    @abstractmethod
    def name(self) -> Text:
        """Return the action's name as the domain lists it."""


    intent = ""
    ask = ""

    def answer(self, order, day) -> str:
        raise NotImplementedError

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        if await caller(tracker) is None:
            say_not_registered(dispatcher)
            return []
        ref = requested_order_id(tracker)
        if ref is None:
            # "where is my polyester roll order?": the customer named the product, not the id.
            recent = await db(orders.recent_orders, tracker.sender_id, NAMED_AMONG, 0)
            named = orders_named(tracker.latest_message.get("text"), recent)
            if len(named) == 1:
                dispatcher.utter_message(text=self.answer(named[0], today()))
                return []
            offered = (named or recent)[: fmt.PAGE_SIZE]
            dispatcher.utter_message(text=self.ask, buttons=order_buttons(offered, self.intent))
            return []
        order = await db(orders.find_order, tracker.sender_id, ref)
        if order is None:
            # Same words for someone else's order and a missing one: no existence leak.
            dispatcher.utter_message(
                text=f"I couldn't find {ref} on your account. Please check the number, "
                "or choose *View recent orders* in the Orders menu."
            )
            return []
        dispatcher.utter_message(text=self.answer(order, today()))
        return []


class ActionTrackOrder(_OrderQuestion):
    intent = "track_order"
    ask = "Which order? Tap one below or type the order ID (e.g. ORD-12345)."

    def name(self) -> Text:
        return "action_track_order"

    def answer(self, order, day) -> str:
        return fmt.order_status(order, day)


class ActionDeliveryEstimate(_OrderQuestion):
    intent = "delivery_estimate"
    ask = "Delivery for which order? Tap one below or type the order ID (e.g. ORD-12345)."

    def name(self) -> Text:
        return "action_delivery_estimate"

    def answer(self, order, day) -> str:
        return fmt.delivery_estimate(order, day)
