"""The inbound worker and the sender on a real SQLite file and the fake Graph API, with a stand-in for Rasa."""
from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

import pytest
import pytest_asyncio
from rasa.core.channels.channel import UserMessage
from sqlalchemy import text as sql_text

from connectors.whatsapp import store
from connectors.whatsapp.background import Leases, new_owner
from connectors.whatsapp.channel import WhatsAppOutput
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.db import channel_sessions
from connectors.whatsapp.graph import GraphClient
from connectors.whatsapp.updates import parse_delivery
from connectors.whatsapp.worker import InboundWorker
from tests.connectors.whatsapp_support import database, delivery, text  # noqa: F401
from tests.fakes.graph_api import DEFAULT_PHONE_NUMBER_ID, FakeGraph

ASHA = "919800000001"
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def rows(sql: str) -> list[tuple]:
    """Return the rows of a query on the channel's database."""
    with channel_sessions()() as session:
        return [tuple(row) for row in session.execute(sql_text(sql))]


def receive(wa_id: str, body: str) -> str:
    """Store one text message as the webhook would; return its wamid."""
    contact, msg = text(wa_id, body)
    raw = delivery((contact, msg))
    store.save_delivery(json.dumps(raw).encode(), parse_delivery(raw), DEFAULT_PHONE_NUMBER_ID)
    return msg["id"]


async def answer_hello(message: UserMessage) -> None:
    """Answer as Rasa would: one text through the turn's output channel."""
    await message.output_channel.send_text_message(message.sender_id, f"Hello, you said {message.text}")


async def no_tracker(_wa_id: str) -> None:
    """Rasa never logged the turn."""
    return None


class Channel:
    """The channel's settings and a Graph client pointed at the fake; builds workers."""

    def __init__(self, graph: FakeGraph) -> None:
        self.graph = graph
        self.config = WhatsAppConfig.from_env({
            "WHATSAPP_PHONE_NUMBER_ID": graph.state.phone_number_id, "WHATSAPP_BUSINESS_ACCOUNT_ID": "102030405060",
            "WHATSAPP_API_TOKEN": graph.state.token, "WHATSAPP_APP_SECRET": "secret",
            "WHATSAPP_WEBHOOK_VERIFY_TOKEN": "verify", "WHATSAPP_GRAPH_API_URL": graph.base_url})
        self.client = GraphClient(self.config)

    def worker(self, on_new_message: OnNewMessage = answer_hello,
               tracker_of: Callable[[str], Awaitable[Optional[Any]]] = no_tracker) -> InboundWorker:
        """Return an inbound worker of a new process (its own lease owner)."""
        return InboundWorker(self.config, self.client, Leases(new_owner()), on_new_message,
                             lambda who, wamid, kind, first_seq=0: WhatsAppOutput(who, wamid, kind, first_seq),
                             tracker_of)


@pytest_asyncio.fixture
async def channel(database, graph: FakeGraph) -> AsyncIterator[Channel]:  # noqa: F811
    """The channel's parts on a fresh SQLite file, in front of the fake Graph API."""
    built = Channel(graph)
    try:
        yield built
    finally:
        await built.client.close()


@pytest.mark.asyncio
async def test_a_turn_cut_short_at_shutdown_is_answered_once_by_the_next_start(channel):
    """Stopping mid-turn puts the message back with its try counted; the next start answers it once."""
    wamid = receive(ASHA, "hi")
    started = asyncio.Event()

    async def hang(_message: UserMessage) -> None:
        started.set()
        await asyncio.Event().wait()

    first = channel.worker(hang)
    running = asyncio.create_task(first.run())
    first.notify([ASHA])
    await asyncio.wait_for(started.wait(), 5)
    await first.stop(grace=0.1)
    running.cancel()
    assert rows("SELECT state, attempts, last_error, lease_owner FROM whatsapp_inbound") == [
        ("pending", 1, "cancelled", None)]
    assert rows("SELECT id FROM whatsapp_outbox") == []

    await channel.worker().drain(ASHA)
    assert rows("SELECT state, attempts FROM whatsapp_inbound") == [("done", 2)]
    assert [(who, json.loads(body)["text"]["body"]) for who, body in
            rows("SELECT inbound_wamid, payload FROM whatsapp_outbox")] == [(wamid, "Hello, you said hi")]


@pytest.mark.asyncio
async def test_a_turn_whose_outcome_meets_a_locked_database_is_recorded_once_when_it_is_free(channel, database):  # noqa: F811
    """Another process holding SQLite's write lock past the busy timeout (5 s) while a turn's outcome is
    written: the write is tried again and the message is answered once, its try not used up."""
    wamid = receive(ASHA, "hi")
    turns: list[str] = []
    held: dict[str, Any] = {}

    async def answer_then_lock(message: UserMessage) -> None:
        turns.append(message.message_id)
        await answer_hello(message)
        held["lock"] = sqlite3.connect(database.removeprefix("sqlite:///"), isolation_level=None,
                                       check_same_thread=False)
        held["lock"].execute("BEGIN EXCLUSIVE")  # no other writer until ROLLBACK
        held["free"] = asyncio.get_running_loop().call_later(5.5, held["lock"].execute, "ROLLBACK")

    try:
        await asyncio.wait_for(channel.worker(answer_then_lock).drain(ASHA), 20)
    finally:
        held["free"].cancel()
        held["lock"].close()
    assert turns == [wamid]
    assert rows("SELECT state, attempts FROM whatsapp_inbound") == [("done", 1)]
    assert [json.loads(body)["text"]["body"] for (body,) in rows("SELECT payload FROM whatsapp_outbox")] == [
        "Hello, you said hi"]
