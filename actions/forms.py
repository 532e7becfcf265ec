"""The two forms: report a defect (order, description, optional photo, confirm) and report an issue."""
from __future__ import annotations

from abc import ABC, abstractmethod
import json
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import formatting as fmt
from actions.common import CallerForm, caller, db, latest_entity, say_not_registered
from database import defects, orders, support
from actions.documents import DOCUMENT_SLOTS
from actions.orders import NAMED_AMONG
from actions.parsing import normalize_order_id, orders_named

DEFECT_SLOTS = ("defect_order_id", "defect_description", "defect_photo", "defect_confirmed")
ISSUE_SLOTS = ("issue_description",)
NO_PHOTO = "none"
MIN_DESCRIPTION_CHARS = 10
CANCELLED = "Cancelled — nothing was saved."
ADDED = "📝 Added that to the description."
MAX_DESCRIPTION_CHARS = 4096  # one WhatsApp message, however many times the customer adds to it
# Intents whose message can carry the defect's description (an unsure parse included).
DESCRIBING_INTENTS = ("report_defect", "nlu_fallback")
# Where a form asks for free text, these leave it (the rules answer them) whatever the confidence...
LEAVING_INTENTS = ("cancel", "menu_main")
# ...and these, questions about something else or a menu tap, are answered first (the form then asks
# again) when the model is sure: an unsure one is most likely the answer ("I want to become a
# dealer, who should I call?" is contact_support at 0.57 but describes the issue).
OTHER_QUESTIONS = (
    "menu_orders", "menu_defects", "menu_schedule", "menu_support", "menu_faq", "track_order",
    "delivery_estimate", "view_recent_orders", "schedule_today", "schedule_week", "production_status",
    "defect_history", "track_defect", "request_document", "contact_support", "human_handoff", "price_quote",
)
SURE_QUESTION = 0.7
# "I have a billing problem" or "mujhe ek complaint karni hai billing ke baare me" only names the
# topic: an issue is told in full when, these words aside, at least ISSUE_CONTENT_WORDS are left.
ANNOUNCING_WORDS = frozenset("""
    i we me us you have has had want wanted need would like to a an the my our your about regarding
    with in on of for is am are was it this that there please pls plz kindly sir madam ji hi hello
    complaint complaints complain problem problems issue issues query register raise file make lodge
    mujhe humein hame hamein hum main mai mera meri mere hamara hamari ek karni karna hai hain
    tha thi ke ki ka baare bare me mein se ko bhai shikayat samasya dikkat pareshani
    मुझे हमें हम मैं मेरा मेरी मेरे हमारा हमारी एक करनी करना है हैं था थी के की का बारे में से को
    शिकायत समस्या दिक्कत परेशानी
""".split())
ISSUE_CONTENT_WORDS = 4
QUOTE_CHARS = 160


def too_short(text: Optional[str]) -> bool:
    """Return True for answers too short to act on ("bad", "broken")."""
    words = (text or "").split()
    return len((text or "").strip()) < MIN_DESCRIPTION_CHARS or len(words) < 2


def content_words(text: str) -> int:
    """Count the words of text that are not ANNOUNCING_WORDS (punctuation around a word aside)."""
    words = (word.strip(".,!?;:()\"'").lower() for word in text.split())
    return sum(1 for word in words if word and word not in ANNOUNCING_WORDS)


def description_in(message: Dict[str, Any], intents: tuple[str, ...] = DESCRIBING_INTENTS,
                   min_words: int = 2) -> Optional[str]:
    """Return the text of a complaint that describes the problem, beyond an order id; else None."""
    text = str(message.get("text") or "").strip()
    intent = (message.get("intent") or {}).get("name")
    if intent not in intents or not text or text.startswith("/") or len(text.split()) < min_words:
        return None
    rest = text
    for entity in sorted(message.get("entities") or [], key=lambda e: -int(e.get("start") or 0)):
        if isinstance(entity.get("start"), int) and isinstance(entity.get("end"), int):
            rest = rest[: entity["start"]] + rest[entity["end"]:]
    return None if too_short(rest) else text


def answer_in(message: Dict[str, Any]) -> Optional[str]:
    """Return the text of a message that answers a form's free-text question; None for a way out
    or a question about something else the model is sure of."""
    intent = message.get("intent") or {}
    name = intent.get("name")
    sure = float(intent.get("confidence") or 0.0) >= SURE_QUESTION
    if name in LEAVING_INTENTS or (name in OTHER_QUESTIONS and sure):
        return None
    return str(message.get("text") or "").strip() or None


def media_ref(metadata: Dict[str, Any]) -> Optional[str]:
    """Return the stored reference of a photo/document the channel passed in metadata."""
    media = (metadata or {}).get("media")
    if isinstance(media, dict) and not media.get("refused"):
        return media.get("path") or media.get("media_id") or media.get("url")
    return None


def media_notice(metadata: Dict[str, Any]) -> Optional[str]:
    """Return the channel's answer for a file it refused (too large, over the daily quota), if any."""
    media = (metadata or {}).get("media")
    if isinstance(media, dict) and media.get("refused"):
        return str(media.get("notice") or "") or None
    return None


class ValidateDefectReportForm(CallerForm):
    def name(self) -> Text:
        return "validate_defect_report_form"

    async def validate_defect_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        ref = normalize_order_id(str(value or ""))
        order = await db(orders.find_order, tracker.sender_id, ref) if ref else None
        if order is None:
            shown = ref or str(value or "that")
            dispatcher.utter_message(text=f"I couldn't find {shown} on your account.")
            return {"defect_order_id": None}
        return {"defect_order_id": order.ref}

    async def extract_defect_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        # "polyester roll me 5 piece phate the": the product names the order when it names one only.
        if (tracker.get_slot("defect_order_id") or tracker.get_slot("requested_slot") not in (None, "defect_order_id")
                or latest_entity(tracker, "order_id") or tracker.latest_message.get("intent", {}).get("name")
                not in ("report_defect", "inform", "nlu_fallback")):
            return {}
        recent = await db(orders.recent_orders, tracker.sender_id, NAMED_AMONG, 0)
        named = orders_named(tracker.latest_message.get("text"), recent)
        return {"defect_order_id": named[0].ref} if len(named) == 1 else {}

    async def extract_defect_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        requested = tracker.get_slot("requested_slot")
        if requested == "defect_description":
            answer = answer_in(tracker.latest_message)
            return {"defect_description": answer} if answer else {}
        told = tracker.get_slot("defect_description")
        if told:
            # "20 cone me paani ke daag hai" sent while the form waits for the order, a photo or the
            # confirmation adds to what is wrong; the form then asks its question again.
            more = description_in(tracker.latest_message, ("report_defect",))
            if not more or more in told:
                return {}
            dispatcher.utter_message(text=ADDED)
            return {"defect_description": f"{told.rstrip('. ')}. {more}"[:MAX_DESCRIPTION_CHARS]}
        # "colour is not matching in ORD-10001" starts the report (or answers "which order?") and
        # already says what is wrong: keep it instead of asking for it again.
        if requested not in (None, "defect_order_id"):
            return {}
        described = description_in(tracker.latest_message)
        return {"defect_description": described} if described else {}

    async def validate_defect_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if too_short(value):
            dispatcher.utter_message(text="Please add a little more detail, e.g. \"20 cones have water stains\".")
            return {"defect_description": None}
        return {"defect_description": str(value).strip()}

    async def extract_defect_photo(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "defect_photo":
            return {}
        metadata = tracker.latest_message.get("metadata") or {}
        notice = media_notice(metadata)
        if notice:
            dispatcher.utter_message(text=notice)
            return {"defect_photo": None}  # a slot set (to nothing) keeps the form running: it asks again
        ref = media_ref(metadata)
        if ref:
            return {"defect_photo": ref}
        if tracker.latest_message.get("intent", {}).get("name") in ("skip", "deny"):
            return {"defect_photo": NO_PHOTO}
        return {}

    async def validate_defect_photo(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return {"defect_photo": value}


class ActionAskDefectOrderId(Action):
    def name(self) -> Text:
        return "action_ask_defect_order_id"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        recent = await db(orders.recent_orders, tracker.sender_id, NAMED_AMONG, 0)
        # "cotton yarn wale order me" named more than one order: offer just those.
        recent = (orders_named(tracker.latest_message.get("text"), recent) or recent)[: fmt.PAGE_SIZE]
        # The product helps people who don't remember their order IDs.
        buttons = [
            {"title": f"{o.ref} · {o.product}",
             "payload": "/inform" + json.dumps({"order_id": o.ref}, separators=(",", ":"))}
            for o in recent
        ]
        dispatcher.utter_message(
            text="Which order is the defect on? Tap one or type the order ID (e.g. ORD-12345). Type *cancel* to stop.",
            buttons=buttons,
        )
        return []


class _Ask(Action, ABC):
    """Ask for one form slot; the wording lives here because only the form asks it."""
    @abstractmethod
    def name(self) -> Text:
        """Return the action's name as the domain lists it."""


    text = ""
    buttons: List[Dict[str, str]] = []

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(text=self.text, buttons=list(self.buttons))
        return []


class ActionAskDefectDescription(_Ask):
    text = "What is wrong? Describe the defect in a sentence or two (what you see, how many pieces)."

    def name(self) -> Text:
        return "action_ask_defect_description"


class ActionAskDefectPhoto(_Ask):
    text = "Please send a photo of the defect, or tap *Skip* if you don't have one."
    buttons = [{"title": "Skip", "payload": "/skip"}]

    def name(self) -> Text:
        return "action_ask_defect_photo"


class ActionAskIssueDescription(_Ask):
    text = "Please describe the issue in one message (what happened and when). Type *cancel* to stop."

    def name(self) -> Text:
        return "action_ask_issue_description"


class ActionAskDefectConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_defect_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        photo = tracker.get_slot("defect_photo")
        dispatcher.utter_message(
            text=(
                "Please check your defect report:\n"
                f"Order: *{tracker.get_slot('defect_order_id')}*\n"
                f"Problem: {tracker.get_slot('defect_description')}\n"
                f"Photo: {'attached 📎' if photo and photo != NO_PHOTO else 'none'}\n\n"
                "Submit it?"
            ),
            buttons=[{"title": "Submit", "payload": "/affirm"}, {"title": "Cancel", "payload": "/deny"}],
        )
        return []


class ActionSubmitDefect(Action):
    def name(self) -> Text:
        return "action_submit_defect"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        reset = [SlotSet(slot, None) for slot in DEFECT_SLOTS]
        if await caller(tracker) is None:
            say_not_registered(dispatcher)
            return reset
        if tracker.get_slot("defect_confirmed") is not True:
            dispatcher.utter_message(text=CANCELLED)
            return reset
        photo = tracker.get_slot("defect_photo")
        defect = await db(
            defects.create_defect,
            tracker.sender_id,
            tracker.get_slot("defect_order_id"),
            tracker.get_slot("defect_description"),
            None if photo in (None, NO_PHOTO) else photo,
        )
        if defect is None:
            dispatcher.utter_message(text="Sorry, I couldn't save that report. Please try again or contact support.")
            return reset
        dispatcher.utter_message(
            text=(
                f"✅ Defect *{defect.ref}* logged for {defect.order_ref}.\n"
                "Our quality team will reply within 1 working day. "
                f"To check on it later, send {defect.ref}."
            )
        )
        return reset


def form_ended() -> List[EventType]:
    """Events that end whichever form is running and forget its answers, so nothing half-told is reused."""
    return [
        ActiveLoop(None),
        SlotSet("requested_slot", None),
        *(SlotSet(slot, None) for slot in (*DEFECT_SLOTS, *ISSUE_SLOTS, *DOCUMENT_SLOTS)),
    ]


class ActionCancelForm(Action):
    def name(self) -> Text:
        return "action_cancel_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(text=CANCELLED)
        # The rules expect this action to end the form ("active_loop: null" follows it).
        return form_ended()


class ValidateReportIssueForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_report_issue_form"

    async def extract_issue_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        requested = tracker.get_slot("requested_slot")
        if requested == "issue_description":
            answer = answer_in(tracker.latest_message)
            return {"issue_description": answer} if answer else {}
        # "invoice shows 18% GST but our product is 5%, please correct" starts the form and already
        # says what is wrong: file it instead of asking the customer to say it again.
        if tracker.get_slot("issue_description") or requested is not None:
            return {}
        described = description_in(tracker.latest_message, ("report_issue",))
        if not described or content_words(described) < ISSUE_CONTENT_WORDS:
            return {}
        return {"issue_description": described}

    async def validate_issue_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if too_short(value):
            dispatcher.utter_message(text="Please tell me a little more, e.g. \"invoice INV-204 shows the wrong GST\".")
            return {"issue_description": None}
        return {"issue_description": str(value).strip()}


class ActionSubmitIssue(Action):
    def name(self) -> Text:
        return "action_submit_issue"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        description = str(tracker.get_slot("issue_description") or "")
        ticket = await db(support.create_ticket, tracker.sender_id, description)
        quoted = description if len(description) <= QUOTE_CHARS else description[: QUOTE_CHARS - 1].rstrip() + "…"
        dispatcher.utter_message(
            text=f"🎫 Ticket *{ticket.ref}* created. Our team will get back to you within 1 working day.\n"
            f"📝 “{quoted}”"
        )
        return [SlotSet("issue_description", None)]
