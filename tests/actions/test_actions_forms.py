"""The defect form's photo step and submit, run the financial-demo way: Tracker JSON, CollectingDispatcher, seeded SQLite."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from database.defects import count_defects, find_defect
from actions.forms import ActionAskDefectConfirmed, ActionSubmitDefect, ValidateDefectReportForm

ROOT = Path(__file__).resolve().parents[2]
TRACKERS = ROOT / "tests" / "fixtures" / "trackers"
ASHA = "919800000001"
STRANGER = "919800000099"
PHOTO_PATH = "media/2026/11/wamid-media-1.jpg"


@pytest.fixture(scope="module")
def domain() -> dict:
    """The assistant's real domain, as the action server receives it."""
    return yaml.safe_load((ROOT / "domain.yml").read_text())


def tracker_state(name: str) -> dict:
    return json.loads((TRACKERS / f"{name}.json").read_text())


def with_message(state: dict, *, intent: str, text: str = "", metadata: dict | None = None) -> dict:
    """Return the tracker state with a different latest user message."""
    state = copy.deepcopy(state)
    state["latest_message"] = {
        "text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": [], "metadata": metadata or {},
    }
    return state


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "media, stored",
    [
        ({"kind": "image", "media_id": "wamid-media-1", "path": PHOTO_PATH}, PHOTO_PATH),
        ({"kind": "image", "media_id": "wamid-media-2"}, "wamid-media-2"),
        ({"kind": "document", "media_id": "wamid-media-3", "path": "media/2026/11/report.pdf"}, "media/2026/11/report.pdf"),
    ],
    ids=["image-with-path", "image-id-only", "document"],
)
async def test_a_photo_in_the_message_metadata_fills_the_photo_slot(today, domain, media, stored):
    """A photo the channel put in metadata at the photo question fills defect_photo with its stored reference."""
    state = with_message(tracker_state("defect_photo_step"), intent="nlu_fallback", metadata={"media": media})
    dispatcher = CollectingDispatcher()

    events = await ValidateDefectReportForm().run(dispatcher, Tracker.from_dict(state), domain)

    assert events == [SlotSet("defect_photo", stored)]
    assert dispatcher.messages == []


@pytest.mark.asyncio
async def test_the_fixture_photo_message_fills_the_photo_slot(today, domain):
    """The recorded tracker at the photo step, with its image metadata, yields the stored path."""
    dispatcher = CollectingDispatcher()
    events = await ValidateDefectReportForm().run(dispatcher, Tracker.from_dict(tracker_state("defect_photo_step")), domain)
    assert events == [SlotSet("defect_photo", PHOTO_PATH)]


@pytest.mark.asyncio
@pytest.mark.parametrize("intent, text", [("skip", "skip"), ("deny", "no")])
async def test_skip_without_a_photo_goes_on_without_one(today, domain, intent, text):
    """"skip" or "no" at the photo question records that there is no photo."""
    state = with_message(tracker_state("defect_photo_step"), intent=intent, text=text)
    events = await ValidateDefectReportForm().run(CollectingDispatcher(), Tracker.from_dict(state), domain)
    assert events == [SlotSet("defect_photo", "none")]


@pytest.mark.asyncio
async def test_text_without_a_photo_keeps_asking_for_one(today, domain):
    """Plain text with no media at the photo question fills nothing, so Rasa asks for the photo again."""
    state = with_message(tracker_state("defect_photo_step"), intent="inform", text="here it is")
    events = await ValidateDefectReportForm().run(CollectingDispatcher(), Tracker.from_dict(state), domain)
    assert events == []


@pytest.mark.asyncio
async def test_a_refused_photo_is_explained_and_asked_for_again(today, domain):
    """A photo the channel refused (too large) fills nothing and the user reads why, before the form asks again."""
    notice = "That file is too large (max 10 MB). Please send a smaller photo."
    media = {"kind": "image", "media_id": "wamid-media-9", "path": None, "downloaded": False,
             "refused": "too_large", "notice": notice}
    state = with_message(tracker_state("defect_photo_step"), intent="inform", metadata={"media": media})
    dispatcher = CollectingDispatcher()
    events = await ValidateDefectReportForm().run(dispatcher, Tracker.from_dict(state), domain)
    assert events == [SlotSet("defect_photo", None)] and [m["text"] for m in dispatcher.messages] == [notice]


@pytest.mark.asyncio
async def test_a_photo_sent_at_another_question_is_not_taken_as_the_answer(today, domain):
    """An image sent while the form asks for the order does not fill the photo slot."""
    state = tracker_state("defect_photo_step")
    state["slots"].update(defect_order_id=None, defect_description=None, requested_slot="defect_order_id")
    state["events"] = state["events"][:2]
    events = await ValidateDefectReportForm().run(CollectingDispatcher(), Tracker.from_dict(state), domain)
    assert events == []


@pytest.mark.asyncio
async def test_an_unregistered_number_is_not_asked_for_anything(today, domain):
    """For a number we don't know the form asks nothing more, so the submit can explain why."""
    state = tracker_state("defect_photo_step")
    state["sender_id"] = STRANGER
    events = await ValidateDefectReportForm().run(CollectingDispatcher(), Tracker.from_dict(state), domain)
    assert events == [SlotSet("requested_slot", None)]


@pytest.mark.asyncio
async def test_the_summary_says_a_photo_is_attached(today, domain):
    """The confirmation summary tells the user the photo is attached, without showing its storage path."""
    dispatcher = CollectingDispatcher()
    await ActionAskDefectConfirmed().run(dispatcher, Tracker.from_dict(tracker_state("defect_confirmed")), domain)
    [message] = dispatcher.messages
    assert "Photo: attached 📎" in message["text"]
    assert PHOTO_PATH not in message["text"]
    assert [b["title"] for b in message["buttons"]] == ["Submit", "Cancel"]


@pytest.mark.asyncio
async def test_submit_files_the_defect_with_its_photo(today, domain):
    """Submitting a confirmed report files DEF-0004 on the order with the photo reference and clears the form."""
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitDefect().run(dispatcher, Tracker.from_dict(tracker_state("defect_confirmed")), domain)

    assert events == [SlotSet(slot, None) for slot in
                      ("defect_order_id", "defect_description", "defect_photo", "defect_confirmed")]
    [message] = dispatcher.messages
    assert message["text"].startswith("✅ Defect *DEF-0004* logged for ORD-10001.")
    saved = find_defect(ASHA, "DEF-0004")
    assert (saved.order_ref, saved.photo_ref, saved.status) == ("ORD-10001", PHOTO_PATH, "open")
    assert saved.description == "20 cones have water stains on the outer layer"


@pytest.mark.asyncio
async def test_submit_without_a_photo_stores_none(today, domain):
    """A report whose photo was skipped is filed with no photo reference, not the word "none"."""
    state = tracker_state("defect_confirmed")
    state["slots"]["defect_photo"] = "none"
    await ActionSubmitDefect().run(CollectingDispatcher(), Tracker.from_dict(state), domain)
    assert find_defect(ASHA, "DEF-0004").photo_ref is None


@pytest.mark.asyncio
async def test_submit_after_no_files_nothing(today, domain):
    """A report the user declined at the summary is not filed."""
    state = tracker_state("defect_confirmed")
    state["slots"]["defect_confirmed"] = False
    dispatcher = CollectingDispatcher()
    before = count_defects(ASHA)
    await ActionSubmitDefect().run(dispatcher, Tracker.from_dict(state), domain)
    assert [m["text"] for m in dispatcher.messages] == ["Cancelled — nothing was saved."]
    assert count_defects(ASHA) == before


@pytest.mark.asyncio
async def test_submit_from_an_unregistered_number_files_nothing(today, domain):
    """A number we don't know is told it isn't registered and nothing is filed."""
    state = tracker_state("defect_confirmed")
    state["sender_id"] = STRANGER
    dispatcher = CollectingDispatcher()
    await ActionSubmitDefect().run(dispatcher, Tracker.from_dict(state), domain)
    [message] = dispatcher.messages
    assert message["text"].startswith("This number isn't registered with us")
    assert find_defect(ASHA, "DEF-0004") is None
