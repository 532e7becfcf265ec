"""The simulator backend plays Meta for the page: signed deliveries out, Graph sends in, statuses back."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest
import pytest_asyncio

from simulator.settings import Settings, SettingsError
from tests.fakes.simulator_stack import PHONE_NUMBER_ID, TOKEN, SimulatorStack, simulator_stack

USER = "919800000002"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture
async def stack() -> AsyncIterator[SimulatorStack]:
    """Run the simulator with the fake assistant behind its webhook."""
    async with simulator_stack(sent_after=0.05, delivered_after=0.1) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Give each test its own HTTP client."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Wait until check() returns something truthy, and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def say(http: aiohttp.ClientSession, stack: SimulatorStack, payload: dict[str, Any],
              wa_id: str = USER) -> tuple[int, Any]:
    """POST what the page would send; return (status, JSON)."""
    async with http.post(f"{stack.url}/sim/api/chats/{wa_id}/messages", json=payload) as response:
        return response.status, await response.json()


def chat(stack: SimulatorStack, wa_id: str = USER) -> list[Any]:
    """Return the bubbles of a number's chat."""
    return stack.simulator.chats.chat(wa_id).items


@pytest.mark.asyncio
async def test_typed_text_reaches_the_webhook_signed_and_gets_two_ticks(http, stack) -> None:
    """A typed text arrives as a verified delivery with the profile name, and the bubble shows delivered."""
    status, answer = await say(http, stack, {"kind": "text", "text": "hi"})
    assert status == 200 and answer["item"]["status"] == "delivered"
    [message] = stack.assistant.messages()
    assert message["text"] == {"body": "hi"} and message["from"] == USER
    assert message["id"].startswith("wamid.SIM") and message["timestamp"].isdigit()
    value = stack.assistant.deliveries[0]["entry"][0]["changes"][0]["value"]
    assert value["metadata"]["phone_number_id"] == PHONE_NUMBER_ID
    assert value["contacts"] == [{"profile": {"name": "Ravi Kumar"}, "wa_id": USER}]
    assert stack.assistant.rejected == []


@pytest.mark.asyncio
async def test_business_reply_gets_sent_delivered_then_read_only_once_displayed(http, stack) -> None:
    """Statuses for a reply go out as sent, then delivered; read waits until the page showed it."""
    await say(http, stack, {"kind": "text", "text": "hi"})
    [reply] = await eventually(lambda: [i for i in chat(stack) if i.side == "business"])
    await eventually(lambda: reply.status == "delivered")
    await asyncio.sleep(0.2)
    assert [s["status"] for s in stack.assistant.statuses()] == ["sent", "delivered"]
    async with http.post(f"{stack.url}/sim/api/chats/{USER}/read", json={"wamids": [reply.wamid]}) as response:
        assert response.status == 200
    await eventually(lambda: reply.status == "read")
    statuses = stack.assistant.statuses()
    assert [(s["id"], s["status"], s["recipient_id"]) for s in statuses] == [
        (reply.wamid, "sent", USER), (reply.wamid, "delivered", USER), (reply.wamid, "read", USER)]


@pytest.mark.asyncio
async def test_status_echoes_the_senders_callback_data(http, stack) -> None:
    """A send carrying biz_opaque_callback_data gets it back on its status webhooks."""
    body = {"messaging_product": "whatsapp", "to": f"+{USER}", "type": "text", "text": {"body": "Hello"},
            "biz_opaque_callback_data": "outbox:42"}
    async with http.post(f"{stack.url}/v25.0/{PHONE_NUMBER_ID}/messages", json=body, headers=AUTH) as response:
        assert response.status == 200
    await eventually(lambda: len(stack.assistant.statuses()) == 2)
    assert {s["biz_opaque_callback_data"] for s in stack.assistant.statuses()} == {"outbox:42"}


@pytest.mark.asyncio
async def test_tap_names_the_tapped_message_in_its_context(http, stack) -> None:
    """A list row tap is a list_reply whose context.id is the list message's wamid."""
    await say(http, stack, {"kind": "text", "text": "hi"})
    [menu] = await eventually(lambda: [i for i in chat(stack) if i.side == "business"])
    status, _ = await say(http, stack, {"kind": "list_reply", "context_id": menu.wamid, "id": "menu_orders",
                                        "title": "Check Order Status", "description": "Where your order is"})
    assert status == 200
    tap = stack.assistant.messages()[-1]
    assert tap["context"] == {"from": "15550001234", "id": menu.wamid}
    assert tap["interactive"] == {"type": "list_reply", "list_reply": {
        "id": "menu_orders", "title": "Check Order Status", "description": "Where your order is"}}


@pytest.mark.asyncio
async def test_tap_on_a_message_of_another_chat_is_refused(http, stack) -> None:
    """A tap must refer to a business message of the same chat; nothing is posted otherwise."""
    await say(http, stack, {"kind": "text", "text": "hi"})
    [menu] = await eventually(lambda: [i for i in chat(stack) if i.side == "business"])
    status, answer = await say(http, stack, {"kind": "button_reply", "context_id": menu.wamid, "id": "x",
                                             "title": "X"}, wa_id="919800000001")
    assert (status, answer["error"]) == (400, "unknown_context")
    assert len(stack.assistant.messages()) == 1


@pytest.mark.asyncio
async def test_rejected_delivery_marks_the_bubble_with_the_webhooks_answer(http, stack) -> None:
    """When the webhook answers 500 the bubble is an error naming the status."""
    status, answer = await say(http, stack, {"kind": "text", "text": "please fail"})
    assert status == 200 and answer["item"]["status"] == "error"
    assert "500" in answer["item"]["error"]


@pytest.mark.asyncio
async def test_unreachable_webhook_is_an_error_bubble(http, stack) -> None:
    """With nothing listening at the webhook URL the bubble says it could not be reached."""
    stack.simulator.relay.url = "http://127.0.0.1:9/webhook"
    _, answer = await say(http, stack, {"kind": "text", "text": "hi"})
    assert answer["item"]["status"] == "error" and "could not be reached" in answer["item"]["error"]


@pytest.mark.asyncio
async def test_photo_goes_through_the_graph_media_path(http, stack) -> None:
    """An uploaded photo becomes an image webhook whose media id the channel downloads with its token."""
    form = aiohttp.FormData()
    form.add_field("file", b"\x89PNG fake bytes", filename="cone.png", content_type="image/png")
    form.add_field("caption", "Broken cone")
    async with http.post(f"{stack.url}/sim/api/chats/{USER}/photos", data=form) as response:
        assert response.status == 200
        media_id = (await response.json())["media_id"]
    image = stack.assistant.messages()[-1]["image"]
    assert image["id"] == media_id and image["caption"] == "Broken cone" and image["mime_type"] == "image/png"
    assert await eventually(lambda: stack.assistant.media.get(media_id)) == b"\x89PNG fake bytes"
    async with http.get(f"{stack.url}/v25.0/{media_id}") as response:
        assert response.status == 401  # the Graph lookup needs the token, as Meta's does


@pytest.mark.asyncio
async def test_photo_must_be_jpeg_or_png(http, stack) -> None:
    """Other files are refused before anything is posted."""
    form = aiohttp.FormData()
    form.add_field("file", b"GIF89a", filename="a.gif", content_type="image/gif")
    async with http.post(f"{stack.url}/sim/api/chats/{USER}/photos", data=form) as response:
        assert (response.status, (await response.json())["error"]) == (415, "unsupported_media_type")
    assert stack.assistant.messages() == []


@pytest.mark.asyncio
async def test_long_poll_wakes_on_a_new_bubble_and_shows_read_and_typing(http, stack) -> None:
    """A waiting poll returns as soon as the chat changes; the channel's read receipt turns ticks blue."""
    url = f"{stack.url}/sim/api/chats/{USER}"
    async with http.get(url, params={"since": "0", "wait": "0"}) as response:
        assert await response.json() == {"version": 0, "items": [], "typing_ms": 0, "reset": False}
    started = time.monotonic()
    poll = asyncio.ensure_future(http.get(url, params={"since": "0", "wait": "20"}))
    await asyncio.sleep(0.1)
    await say(http, stack, {"kind": "text", "text": "hello"})
    async with await poll as response:
        changes = await response.json()
    assert time.monotonic() - started < 5 and changes["items"][0]["message"]["text"]["body"] == "hello"
    user = chat(stack)[0]
    await eventually(lambda: user.status == "read")  # the fake assistant marks read with typing
    async with http.get(url, params={"since": str(changes["version"])}) as response:
        later = await response.json()
    assert any(i["wamid"] == user.wamid and i["status"] == "read" for i in later["items"])


@pytest.mark.asyncio
async def test_each_number_keeps_its_own_chat(http, stack) -> None:
    """Messages to one number never show in another number's chat."""
    await say(http, stack, {"kind": "text", "text": "from Ravi"})
    await say(http, stack, {"kind": "text", "text": "from Asha"}, wa_id="919800000001")
    await eventually(lambda: len(chat(stack)) == 2 and len(chat(stack, "919800000001")) == 2)
    assert {i.message.get("to") for i in chat(stack) if i.side == "business"} == {f"+{USER}"}
    assert [i.message["text"]["body"] for i in chat(stack, "919800000001") if i.side == "user"] == ["from Asha"]


def test_settings_name_every_missing_variable() -> None:
    """Without the token, number and App Secret the simulator refuses to start and says which are missing."""
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"WHATSAPP_PHONE_NUMBER_ID": "1"})
    assert str(error.value).endswith("WHATSAPP_API_TOKEN, WHATSAPP_APP_SECRET")
    settings = Settings.from_env({"WHATSAPP_PHONE_NUMBER_ID": "1", "WHATSAPP_API_TOKEN": "tok-SECRET-1",
                                  "WHATSAPP_APP_SECRET": "app-SECRET-2"}, rasa_webhook="http://127.0.0.1:1/w")
    assert "SECRET" not in repr(settings)
    assert settings.rasa_webhook == "http://127.0.0.1:1/w"


@pytest.mark.asyncio
async def test_command_line_prints_its_address_and_serves_the_page(http) -> None:
    """`python -m simulator --port N` prints its 127.0.0.1 address and serves the page and the Graph API."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "WHATSAPP_API_TOKEN": TOKEN, "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
           "WHATSAPP_APP_SECRET": "s3cret"}
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert line.strip() == f"WhatsApp simulator: http://127.0.0.1:{port}/"
        async with http.get(f"http://127.0.0.1:{port}/") as response:
            assert response.status == 200 and "number-picker" in await response.text()
        body = {"messaging_product": "whatsapp", "to": "+919800000001", "type": "text", "text": {"body": "x"}}
        async with http.post(f"http://127.0.0.1:{port}/v25.0/{PHONE_NUMBER_ID}/messages", json=body,
                             headers=AUTH) as response:
            assert response.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
