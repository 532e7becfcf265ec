"""The Graph client against the fake Graph API: what reaches Meta, and how failures are classified."""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.errors import (AuthError, NetworkError, PermanentError, ReEngagementRequired,
                                        RetryableError, ThrottledError)
from connectors.whatsapp.graph import GraphClient
from connectors.whatsapp.media_fetch import download
from tests.fakes.graph_api import FakeGraph

USER = "919800000001"
TEXT = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+" + USER,
        "type": "text", "text": {"body": "Your order has shipped.", "preview_url": False}}


def config_for(graph: FakeGraph, tmp_path: Path, token: str | None = None) -> WhatsAppConfig:
    """Return settings pointing at the fake."""
    return WhatsAppConfig(
        phone_number_id=graph.state.phone_number_id, business_account_id="102030405060",
        api_token=token or graph.state.token, app_secret="s", webhook_verify_token="v",
        graph_api_url=graph.base_url, api_version=graph.state.version, media_dir=tmp_path / "media")


@pytest_asyncio.fixture
async def client(graph: FakeGraph, tmp_path: Path) -> AsyncIterator[GraphClient]:
    """A Graph client pointed at the fake, with a short timeout."""
    graph_client = GraphClient(config_for(graph, tmp_path), aiohttp.ClientTimeout(total=1.0))
    yield graph_client
    await graph_client.close()


@pytest.mark.asyncio
async def test_a_send_returns_the_wamid_and_reaches_the_user(graph, client):
    """A text send is accepted, returns Meta's wamid and arrives exactly as sent, with the token."""
    wamid = await client.send_message(TEXT)
    assert wamid.startswith("wamid.")
    assert graph.sent_to(USER) == [TEXT]
    assert graph.requests[-1].headers["Authorization"] == f"Bearer {graph.state.token}"


@pytest.mark.asyncio
async def test_mark_read_shows_the_typing_indicator(graph, client):
    """Marking read sends Meta's read body with the typing indicator and counts as no message."""
    await client.mark_read("wamid.IN1")
    assert graph.requests[-1].body == {"messaging_product": "whatsapp", "status": "read",
                                       "message_id": "wamid.IN1", "typing_indicator": {"type": "text"}}
    assert graph.sent_to(USER) == []


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [(None, 500, RetryableError), (None, 503, RetryableError), (130429, 0, ThrottledError),
     (131056, 0, RetryableError), (100, 0, PermanentError), (131026, 0, PermanentError),
     (190, 0, AuthError)],
    ids=["http_500", "http_503", "throughput_130429", "pair_131056", "param_100", "undeliverable_131026",
         "token_190"],
)
@pytest.mark.asyncio
async def test_failures_are_classified_by_meta_code(graph, client, code, status, error):
    """Each injected failure raises the error type that tells the sender whether to retry."""
    graph.fail_next(1, code=code, status=status or 500)
    with pytest.raises(error) as raised:
        await client.send_message(TEXT)
    assert raised.value.is_retryable == issubclass(error, RetryableError)
    assert graph.sent_to(USER) == []


@pytest.mark.asyncio
async def test_a_closed_window_asks_for_a_template(graph, client):
    """A free-form send outside the 24 h window raises ReEngagementRequired and is not retryable."""
    graph.close_window(USER)
    with pytest.raises(ReEngagementRequired):
        await client.send_message(TEXT)


@pytest.mark.asyncio
async def test_a_hanging_graph_becomes_a_retryable_network_error(graph, client):
    """A call that outlives the client timeout raises NetworkError (retry later), not a hang."""
    graph.hang_next(1, seconds=3)
    with pytest.raises(NetworkError):
        await client.send_message(TEXT)


@pytest.mark.asyncio
async def test_an_unreachable_graph_is_a_network_error(tmp_path):
    """Nothing listening on the Graph port raises NetworkError."""
    async with FakeGraph() as fake:
        config = config_for(fake, tmp_path)
    graph_client = GraphClient(config)
    try:
        with pytest.raises(NetworkError):
            await graph_client.send_message(TEXT)
    finally:
        await graph_client.close()


@pytest.mark.asyncio
async def test_media_is_looked_up_then_downloaded_with_the_token(graph, client, tmp_path):
    """A download saves the bytes the user sent under the media id, with the MIME type's extension."""
    graph.add_media("4455", b"\x89PNG fake", "image/png")
    fetched = await download(client, "4455", tmp_path / "media", max_bytes=1000, left=1000)
    assert (fetched.path.read_bytes(), fetched.mime_type, fetched.path.name) == (b"\x89PNG fake", "image/png",
                                                                                  "4455.png")
    assert [r.path for r in graph.requests[-2:]] == [f"/{graph.state.version}/4455", "/media/4455"]


@pytest.mark.asyncio
async def test_unknown_media_is_a_permanent_error(graph, client):
    """A media id Meta does not know raises PermanentError."""
    with pytest.raises(PermanentError):
        await client.media_info("404404")


@pytest.mark.asyncio
async def test_the_token_never_goes_to_a_foreign_media_host(tmp_path):
    """A lookup pointing at another host is refused before any byte or token is sent there."""
    seen: list[str] = []

    async def lookup(request: web.Request) -> web.Response:
        return web.json_response({"url": "http://127.0.0.2:9/steal", "mime_type": "image/png"})

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(body=b"x")

    app = web.Application()
    app.router.add_get("/v25.0/{media_id}", lookup)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config = WhatsAppConfig("1", "2", "tok", "s", "v", graph_api_url=f"http://127.0.0.1:{port}",
                            media_dir=tmp_path)
    graph_client = GraphClient(config)
    try:
        with pytest.raises(PermanentError):
            await download(graph_client, "1", tmp_path, max_bytes=1000, left=1000)
        assert not graph_client.may_carry_token("http://evil.example/lookaside.fbsbx.com")
        assert graph_client.may_carry_token("https://lookaside.fbsbx.com/whatsapp_business/attachments/")
        assert not graph_client.may_carry_token("http://lookaside.fbsbx.com/x")
    finally:
        await graph_client.close()
        await runner.cleanup()
    assert seen == []
