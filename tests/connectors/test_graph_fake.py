"""The fake Graph API behaves like Meta's where the connector can notice it."""
from __future__ import annotations

import asyncio
import copy
import json
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from connectors.whatsapp.errors import GraphError, ThrottledError
from tests.fakes.graph_api import FakeGraph
from tests.fakes.graph_state import DEFAULT_PHONE_NUMBER_ID as PHONE_NUMBER_ID
from tests.fakes.graph_state import DEFAULT_TOKEN as GRAPH_TOKEN
from tests.fakes.graph_rules import validate_message

USER = "919800000001"
AUTH = {"Authorization": f"Bearer {GRAPH_TOKEN}"}
TEXT = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+919800000001",
        "type": "text", "text": {"preview_url": False, "body": "We are open 10:00-18:00 on Sundays."}}
BUTTONS = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+919800000001",
           "type": "interactive", "interactive": {
               "type": "button", "header": {"type": "text", "text": "Order 4521"},
               "body": {"text": "What would you like to do with this order?"},
               "footer": {"text": "Reply STOP to opt out of offers"},
               "action": {"buttons": [{"type": "reply", "reply": {"id": f"menu_{i}", "title": f"Choice {i}"}}
                                      for i in range(3)]}}}
LIST = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+919800000002",
        "type": "interactive", "interactive": {
            "type": "list", "body": {"text": "Pick a free slot."},
            "action": {"button": "See slots", "sections": [
                {"title": "Tuesday", "rows": [{"id": "slot_tue_1030", "title": "Tue 10:30",
                                               "description": "Andheri branch, 30 min consultation"}]},
                {"title": "Wednesday", "rows": [{"id": "slot_wed_1600", "title": "Wed 16:00"},
                                                {"id": "slot_none", "title": "None of these"}]}]}}}
TEMPLATE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+919800000002",
            "type": "template", "template": {"name": "order_ready_for_pickup", "language": {"code": "en_US"}}}
READ = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.HBgMOTE5",
        "typing_indicator": {"type": "text"}}


def with_change(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Return a deep copy of body with the dotted path set to value (list indexes allowed)."""
    changed = copy.deepcopy(body)
    *parents, last = path.split(".")
    node: Any = changed
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value
    return changed


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Give each test its own HTTP client."""
    async with aiohttp.ClientSession() as session:
        yield session


async def send(http: aiohttp.ClientSession, graph: FakeGraph, body: Any,
               headers: dict[str, str] | None = None, number: str = PHONE_NUMBER_ID) -> tuple[int, Any]:
    """POST one /messages body and return (status, parsed JSON)."""
    url = f"{graph.graph_url}/{number}/messages"
    async with http.post(url, json=body, headers=AUTH if headers is None else headers) as response:
        return response.status, await response.json()


@pytest.mark.parametrize("body", [TEXT, BUTTONS, LIST, TEMPLATE, READ], ids=["text", "buttons", "list",
                                                                          "template", "read_typing"])
def test_meta_example_requests_are_valid(body: dict[str, Any]) -> None:
    """Meta's own example request bodies pass the fake's checks."""
    assert validate_message(body) is None


@pytest.mark.parametrize(
    ("body", "code", "detail"),
    [
        (with_change(BUTTONS, "interactive.action.buttons", BUTTONS["interactive"]["action"]["buttons"] * 2),
         100, "between 1 and 3"),
        (with_change(BUTTONS, "interactive.action.buttons.0.reply.title", "x" * 21), 100, "allowed 20"),
        (with_change(BUTTONS, "interactive.action.buttons.1.reply.title", "Choice 0"), 100, "unique"),
        (with_change(BUTTONS, "interactive.action.buttons.0.reply.id", "i" * 257), 100, "allowed 256"),
        (with_change(BUTTONS, "interactive.body.text", "b" * 1025), 100, "allowed 1024"),
        (with_change(BUTTONS, "interactive.footer.text", "f" * 61), 100, "allowed 60"),
        (with_change(LIST, "interactive.action.button", "l" * 21), 100, "allowed 20"),
        (with_change(LIST, "interactive.action.sections.0.rows.0.title", "t" * 25), 100, "allowed 24"),
        (with_change(LIST, "interactive.action.sections.0.rows.0.description", "d" * 73), 100, "allowed 72"),
        (with_change(LIST, "interactive.action.sections.0.rows.0.id", "r" * 201), 100, "allowed 200"),
        (with_change(LIST, "interactive.action.sections.1.rows.0.id", "slot_tue_1030"), 100, "unique"),
        (with_change(LIST, "interactive.action.sections.1.rows",
                     [{"id": f"r{i}", "title": "t"} for i in range(10)]), 100, "between 1 and 10 rows"),
        (with_change(LIST, "interactive.action.sections.1.title", None), 131008, "title"),
        (with_change(TEXT, "text.body", "x" * 4097), 100, "allowed 4096"),
        (with_change(TEXT, "text.body", ""), 131008, "text.body"),
        (with_change(TEXT, "messaging_product", "sms"), 100, "messaging_product"),
        (with_change(TEXT, "to", ""), 100, "to"),
        (with_change(TEXT, "type", "hologram"), 100, "type"),
        (with_change(TEMPLATE, "template.language", {}), 131008, "language.code"),
        (with_change(TEMPLATE, "template.name", ""), 131008, "template.name"),
        ({"messaging_product": "whatsapp", "to": "+1", "type": "image",
          "image": {"link": "https://x/a.png", "caption": "c" * 1025}}, 100, "allowed 1024"),
    ],
    ids=["4_buttons", "button_title_21", "duplicate_titles", "button_id_257", "button_body_1025",
         "footer_61", "list_label_21", "row_title_25", "row_description_73", "row_id_201", "duplicate_rows",
         "11_rows", "untitled_second_section", "text_4097", "empty_text", "wrong_product", "no_to",
         "unknown_type", "no_language", "no_template_name", "caption_1025"],
)
def test_rules_reject_what_meta_rejects(body: dict[str, Any], code: int, detail: str) -> None:
    """Bodies Meta refuses are refused with the code Meta uses and a details string naming the field."""
    rejection = validate_message(body)
    assert rejection is not None and rejection.code == code and detail in rejection.details


@pytest.mark.asyncio
async def test_accepted_send_returns_a_fresh_wamid_and_reaches_the_user(graph, http) -> None:
    """Each accepted send gets a new wamid in Meta's success shape and shows up for that user."""
    first = await send(http, graph, TEXT)
    second = await send(http, graph, TEXT)
    assert first[0] == second[0] == 200
    assert first[1]["contacts"] == [{"input": "+919800000001", "wa_id": USER}]
    wamids = {first[1]["messages"][0]["id"], second[1]["messages"][0]["id"]}
    assert len(wamids) == 2 and all(w.startswith("wamid.") for w in wamids)
    assert await graph.messages_to(USER, count=2) == [TEXT, TEXT]
    assert graph.sent_to("919800000002") == []


@pytest.mark.asyncio
async def test_four_buttons_are_rejected_in_metas_envelope(graph, http) -> None:
    """A 4-button message gets HTTP 400 with code 100 in Meta's envelope and never reaches the user."""
    four = with_change(BUTTONS, "interactive.action.buttons", BUTTONS["interactive"]["action"]["buttons"] * 2)
    four["interactive"]["action"]["buttons"][3]["reply"] = {"id": "x", "title": "Fourth"}
    status, body = await send(http, graph, four)
    assert status == 400
    assert list(body["error"]) == ["message", "type", "code", "error_data", "fbtrace_id"]
    assert (body["error"]["code"], body["error"]["type"]) == (100, "OAuthException")
    assert body["error"]["error_data"]["messaging_product"] == "whatsapp"
    assert graph.sent_to(USER) == [] and [r.status for r in graph.requests] == [400]


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer wrong"}, {}], ids=["wrong_token", "no_token"])
@pytest.mark.asyncio
async def test_bad_token_is_refused_with_190(graph, http, headers: dict[str, str]) -> None:
    """A wrong or missing access token gets HTTP 401 and code 190, and nothing is delivered."""
    status, body = await send(http, graph, TEXT, headers=headers)
    assert (status, body["error"]["code"]) == (401, 190)
    assert GraphError.from_response(status, body).__class__.__name__ == "TokenExpired"
    assert graph.sent_to(USER) == []


@pytest.mark.asyncio
async def test_unknown_business_number_is_refused(graph, http) -> None:
    """Sending from a phone_number_id the fake does not own fails with code 100."""
    status, body = await send(http, graph, TEXT, number="100000000000")
    assert (status, body["error"]["code"]) == (400, 100)


@pytest.mark.asyncio
async def test_two_failures_then_success_deliver_exactly_once(graph, http) -> None:
    """With the next two calls failing with 500, the third attempt is the only delivered message."""
    graph.fail_next(2)
    statuses = [(await send(http, graph, TEXT))[0] for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert len(graph.sent_to(USER)) == 1


@pytest.mark.asyncio
async def test_injected_meta_code_maps_to_the_right_exception(graph, http) -> None:
    """An injected 130429 comes back in Meta's envelope and classifies as a throttle."""
    graph.fail_next(1, code=130429)
    status, body = await send(http, graph, TEXT)
    assert isinstance(GraphError.from_response(status, body), ThrottledError)


@pytest.mark.asyncio
async def test_fail_rate_mixes_server_errors_and_throttling(graph, http) -> None:
    """With p=1 every send fails with a mix of 5xx and 130429; with p=0 all succeed."""
    graph.fail_rate(1.0, seed=7)
    codes = {(await send(http, graph, TEXT))[1]["error"]["code"] for _ in range(30)}
    assert codes <= {1, 2, 130429} and 130429 in codes and codes & {1, 2}
    graph.fail_rate(0.0)
    assert (await send(http, graph, TEXT))[0] == 200


@pytest.mark.asyncio
async def test_latency_knob_slows_every_call(graph, http) -> None:
    """Added latency delays the answer by at least that long."""
    graph.set_latency(150)
    started = time.monotonic()
    await send(http, graph, TEXT)
    assert time.monotonic() - started >= 0.15


@pytest.mark.asyncio
async def test_hang_outlasts_the_client_timeout_and_delivers_nothing(graph, http) -> None:
    """A hung call times out on the client side and the message is not delivered."""
    graph.hang_next(1, seconds=1.0)
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(f"{graph.graph_url}/{PHONE_NUMBER_ID}/messages", json=TEXT, headers=AUTH,
                             timeout=aiohttp.ClientTimeout(total=0.2)):
            pass
    assert (await send(http, graph, TEXT))[0] == 200
    assert len(graph.sent_to(USER)) == 1


@pytest.mark.asyncio
async def test_closed_window_refuses_free_form_but_takes_templates(graph, http) -> None:
    """After 24 h of silence a text fails with 131047 while an approved template still goes out."""
    graph.close_window("919800000002")
    text_to_closed = with_change(TEXT, "to", "+919800000002")
    status, body = await send(http, graph, text_to_closed)
    assert (status, body["error"]["code"]) == (400, 131047)
    assert (await send(http, graph, TEMPLATE))[0] == 200
    assert [m["type"] for m in graph.sent_to("919800000002")] == ["template"]


@pytest.mark.asyncio
async def test_mark_read_with_typing_is_not_a_message(graph, http) -> None:
    """Marking read answers success and is recorded, but the user receives no message."""
    assert await send(http, graph, READ) == (200, {"success": True})
    assert graph.sent_to(USER) == [] and graph.requests[0].body == READ


@pytest.mark.asyncio
async def test_media_lookup_and_download_need_the_token(graph, http) -> None:
    """A media id resolves to a URL on the fake whose bytes need the Bearer token."""
    graph.add_media("1288741093374015", b"\xff\xd8jpeg", "image/jpeg")
    async with http.get(f"{graph.graph_url}/1288741093374015", headers=AUTH) as response:
        info = await response.json()
    assert (info["mime_type"], info["file_size"], info["id"]) == ("image/jpeg", "6", "1288741093374015")
    async with http.get(info["url"]) as response:
        assert response.status == 401
    async with http.get(info["url"], headers=AUTH) as response:
        assert (response.status, await response.read()) == (200, b"\xff\xd8jpeg")
    async with http.get(f"{graph.graph_url}/999", headers=AUTH) as response:
        assert (response.status, (await response.json())["error"]["code"]) == (400, 100)


@pytest.mark.asyncio
async def test_uploaded_media_can_be_looked_up(graph, http) -> None:
    """A multipart upload returns a media id the lookup then knows."""
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("type", "application/pdf")
    form.add_field("file", b"%PDF-1.4", filename="invoice.pdf", content_type="application/pdf")
    async with http.post(f"{graph.graph_url}/{PHONE_NUMBER_ID}/media", data=form, headers=AUTH) as response:
        media_id = (await response.json())["id"]
    async with http.get(f"{graph.graph_url}/{media_id}", headers=AUTH) as response:
        assert (await response.json())["mime_type"] == "application/pdf"


@pytest.mark.asyncio
async def test_http_control_routes(graph, http) -> None:
    """A Rasa subprocess test can drive the same knobs and read messages over HTTP."""
    async with http.post(f"{graph.base_url}/_test/fail", json={"next": 1, "code": 131056}) as response:
        assert (await response.json())["knobs"]["fail_code"] == 131056
    assert (await send(http, graph, TEXT))[1]["error"]["code"] == 131056
    await send(http, graph, TEXT)
    async with http.get(f"{graph.base_url}/_test/messages", params={"to": "+91 98000 00001"}) as response:
        assert (await response.json())["messages"] == [TEXT]
    async with http.get(f"{graph.base_url}/_test/requests") as response:
        assert [r["status"] for r in (await response.json())["requests"]] == [400, 200]
    async with http.post(f"{graph.base_url}/_test/window_closed", json={"wa_ids": [USER]}) as response:
        assert (await response.json())["wa_ids"] == [USER]
    assert (await send(http, graph, TEXT))[1]["error"]["code"] == 131047
    async with http.post(f"{graph.base_url}/_test/reset") as response:
        assert response.status == 200
    assert graph.requests == [] and (await send(http, graph, TEXT))[0] == 200


def _free_port() -> int:
    """Return a port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.asyncio
async def test_command_line_server_accepts_sends(http) -> None:
    """`python -m tests.fakes.graph_api` serves on 127.0.0.1 for Rasa running as a subprocess."""
    port = _free_port()
    root = Path(__file__).parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.graph_api", "--port", str(port), "--token", GRAPH_TOKEN,
         "--phone-number-id", PHONE_NUMBER_ID], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/v25.0/{PHONE_NUMBER_ID}/messages"
        for _ in range(100):
            try:
                async with http.post(url, json=TEXT, headers=AUTH) as response:
                    assert response.status == 200
                    break
            except aiohttp.ClientConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                await asyncio.sleep(0.1)
        else:
            pytest.fail("fake Graph API did not start")
        async with http.get(f"http://127.0.0.1:{port}/_test/messages", params={"to": USER}) as response:
            assert (await response.json())["messages"] == [TEXT]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.asyncio
async def test_the_request_feed_redacts_credentials(http) -> None:
    """GET /_test/requests shows each request's headers but never the Graph token or another credential."""
    token, other = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    async with FakeGraph(token, PHONE_NUMBER_ID) as fake:
        headers = {"Authorization": f"Bearer {token}", "X-Api-Key": other, "X-Trace": "visible"}
        assert (await send(http, fake, TEXT, headers=headers))[0] == 200
        async with http.get(f"{fake.base_url}/_test/requests") as response:
            raw = await response.text()
        [shown] = json.loads(raw)["requests"]
        assert token not in raw and other not in raw
        assert shown["headers"]["Authorization"] == shown["headers"]["X-Api-Key"] == "[redacted]"
        assert shown["headers"]["X-Trace"] == "visible" and shown["body"] == TEXT
        assert fake.requests[0].headers["Authorization"] == f"Bearer {token}"  # in-process tests still see it
