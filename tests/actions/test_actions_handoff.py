"""Asking for a person over WhatsApp opens a handoff row; the REST channel and the shell do not."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from database.models import Handoff
from database.session import sessions
from actions.support import ActionRequestHandoff

TRACKERS = Path(__file__).resolve().parents[1] / "fixtures" / "trackers"
ASHA = "919800000001"


def tracker(channel: str) -> Tracker:
    """Return Asha's tracker right after "I want to talk to a person" arrived on channel."""
    state = json.loads((TRACKERS / "handoff_request.json").read_text())
    state = copy.deepcopy(state)
    state["events"][-1]["input_channel"] = channel
    return Tracker.from_dict(state)


def open_handoffs() -> list[tuple[str, str]]:
    """Return (wa_id, state) of every handoff row."""
    with sessions()() as session:
        return [tuple(r) for r in session.execute(select(Handoff.wa_id, Handoff.state))]


@pytest.mark.asyncio
async def test_a_whatsapp_request_opens_one_handoff_and_keeps_the_promise(database):
    """The user hears who takes over and when; one waiting handoff exists for their number, even if asked twice."""
    for _ in range(2):
        dispatcher = CollectingDispatcher()
        events = await ActionRequestHandoff().run(dispatcher, tracker("whatsapp"), {})
        assert events == [SlotSet("handoff_requested", True)]
        [message] = dispatcher.messages
        assert message["text"].startswith("👤 I've asked a colleague to take over this chat. Expected wait:")
    assert open_handoffs() == [(ASHA, "waiting")]


@pytest.mark.asyncio
@pytest.mark.parametrize("channel", ["rest", "cmdline"])
async def test_local_channels_get_the_answer_without_pausing_anything(database, channel):
    """A REST or shell conversation (sender id chosen by the caller) gets the same text and opens no handoff."""
    dispatcher = CollectingDispatcher()
    events = await ActionRequestHandoff().run(dispatcher, tracker(channel), {})
    assert events == [SlotSet("handoff_requested", True)] and len(dispatcher.messages) == 1
    assert open_handoffs() == []
