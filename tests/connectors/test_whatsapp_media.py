"""Media by need and within limits: the channel on a real server, the Graph stand-in serving files of a
given size, a real SQLite database with the demo customers, and a tracker store saying where each
conversation is."""
from __future__ import annotations

import asyncio
import dataclasses
import tracemalloc
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import pytest_asyncio
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from database.clock import utcnow
from database.seed import seed
from connectors.whatsapp import media_log
from connectors.whatsapp.config import MB, ConfigError, WhatsAppConfig
from connectors.whatsapp.graph import GraphClient
from connectors.whatsapp.media_fetch import WRITE_BYTES, stream_to_file
from tests.connectors.test_whatsapp_webhook import free_port
from tests.connectors.whatsapp_support import database, delivery, message, signed  # noqa: F401
from tests.fakes.graph_api import FakeGraph

ROOT = Path(__file__).resolve().parents[2]
SECRET = "media-test-app-secret"
ASHA, STRANGER = "919800000001", "919800000099"
PHOTO_STEP = [ActiveLoop("defect_report_form"), SlotSet("requested_slot", "defect_photo")]
ORDER_STEP = [ActiveLoop("defect_report_form"), SlotSet("requested_slot", "defect_order_id")]
TOO_LARGE = "That file is too large (max 10 MB). Please send a smaller photo."


@dataclass
class Channel:
    """A running channel with its workers, the Graph stand-in and what reached the assistant."""

    url: str
    graph: FakeGraph
    http: aiohttp.ClientSession
    trackers: InMemoryTrackerStore
    domain: Domain
    media_dir: Path
    received: list[UserMessage] = field(default_factory=list)

    async def at(self, wa_id: str, events: list[Any]) -> None:
        """Put the sender's conversation where events leave it (e.g. at the defect photo step)."""
        await self.trackers.save(DialogueStateTracker.from_events(wa_id, events, slots=self.domain.slots))

    async def send(self, wa_id: str, kind: str, media_id: str, **fields: Any) -> dict[str, Any]:
        """Post one signed image or document message from wa_id; return the message."""
        _, template = message("media", kind, wa_id)
        contact, msg = message("media", kind, wa_id, **{kind: {**template[kind], "id": media_id, **fields}})
        raw, headers = signed(delivery((contact, msg)), SECRET)
        async with self.http.post(f"{self.url}/webhook", data=raw, headers=headers) as response:
            assert response.status == 200
        return msg

    async def handed_over(self, count: int, timeout: float = 10.0) -> list[UserMessage]:
        """Wait until count messages reached the assistant; return them."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return self.received

    def stored_files(self) -> list[str]:
        """Return the names of every file in the media dir (part files included)."""
        return sorted(p.name for p in self.media_dir.iterdir()) if self.media_dir.exists() else []


Serve = Callable[..., Awaitable[Channel]]


@pytest_asyncio.fixture
async def serve(database, graph: FakeGraph, tmp_path: Path,  # noqa: F811
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Serve]:
    """Start the channel with the given media settings against the stand-in (one per test)."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    seed()
    servers: list[Any] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def start(**settings: Any) -> Channel:
            from connectors.whatsapp.channel import WhatsAppInput

            config = WhatsAppConfig(
                phone_number_id=graph.state.phone_number_id, business_account_id="102030405060",
                api_token=graph.state.token, app_secret=SECRET, webhook_verify_token="verify",
                graph_api_url=graph.base_url, api_version=graph.state.version, media_dir=tmp_path / "media",
                **settings)
            domain = Domain.load(str(ROOT / "domain.yml"))
            trackers = InMemoryTrackerStore(domain)
            channel = Channel("", graph, http, trackers, domain, config.media_dir)

            async def answer(msg: UserMessage) -> None:
                channel.received.append(msg)
                await msg.output_channel.send_response(msg.sender_id, {"text": f"echo: {msg.text}"})

            app = Sanic(f"whatsapp_media_{uuid.uuid4().hex}")
            app.ctx.agent = _Agent(trackers)
            app.blueprint(WhatsAppInput(config).blueprint(answer), url_prefix="/webhooks/whatsapp")
            port = free_port()
            server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True,
                                             access_log=False)
            await server.startup()
            await server.before_start()
            await server.after_start()
            servers.append(server)
            channel.url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
            return channel

        yield start
        for server in servers:
            await server.before_stop()
            await server.close()
            await server.after_stop()


@dataclass
class _Agent:
    """Where the worker looks for Rasa's agent: readiness and the tracker store."""

    tracker_store: InMemoryTrackerStore

    def is_ready(self) -> bool:
        """Return True: the agent takes messages."""
        return True


def peak_rss_bytes() -> int:
    """Return this process's peak resident memory so far (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


@pytest.mark.asyncio
async def test_twenty_large_documents_outside_any_flow_are_never_fetched(serve: Serve):
    """Twenty 60 MB documents sent outside any form each get an answer, and no byte of them is fetched."""
    channel = await serve()
    await channel.at(ASHA, [SlotSet("requested_slot", None)])  # talking to the bot, no form active
    peak_before = peak_rss_bytes()
    ids = [f"77000{n:03d}" for n in range(20)]
    for media_id in ids:
        channel.graph.add_sized_media(media_id, 60 * MB, "application/pdf")
        await channel.send(ASHA, "document", media_id)
    answers = await channel.graph.messages_to(ASHA, count=20, timeout=20)
    assert len(answers) == 20
    assert all(channel.graph.media_requests(media_id) == [] for media_id in ids)
    assert [(m.metadata["media"]["downloaded"], m.metadata["media"]["reason"]) for m in channel.received] == [
        (False, "not_needed")] * 20
    assert channel.stored_files() == []
    assert peak_rss_bytes() - peak_before < 50 * MB


@pytest.mark.asyncio
async def test_a_photo_at_the_defect_photo_step_is_downloaded_and_handed_over(serve: Serve):
    """At the photo step a photo is saved in the media dir and reaches the form with its path."""
    channel = await serve()
    await channel.at(ASHA, PHOTO_STEP)
    channel.graph.add_media("8801", b"\xff\xd8 a cone with water stains", "image/jpeg")
    await channel.send(ASHA, "image", "8801", caption="stains")
    [received] = await channel.handed_over(1)
    media = received.metadata["media"]
    assert (media["downloaded"], media["mime_type"], media["bytes"]) == (True, "image/jpeg", 27)
    assert Path(media["path"]).read_bytes() == b"\xff\xd8 a cone with water stains"
    assert channel.stored_files() == ["8801.jpg"]


@pytest.mark.asyncio
async def test_media_at_another_step_or_from_an_unknown_number_is_not_fetched(serve: Serve):
    """A photo while the form asks for the order, or from an unregistered number at the photo step, is never fetched."""
    channel = await serve()
    await channel.at(ASHA, ORDER_STEP)
    await channel.at(STRANGER, PHOTO_STEP)
    channel.graph.add_media("8802", b"\xff\xd8", "image/jpeg")
    channel.graph.add_media("8803", b"\xff\xd8", "image/jpeg")
    await channel.send(ASHA, "image", "8802")
    await channel.send(STRANGER, "image", "8803")
    received = await channel.handed_over(2)
    assert sorted(m.metadata["media"]["reason"] for m in received) == ["not_needed", "unregistered"]
    assert channel.graph.media_requests("8802") == channel.graph.media_requests("8803") == []
    assert channel.stored_files() == []


@pytest.mark.asyncio
async def test_an_oversized_photo_is_refused_by_its_announced_size_without_fetching_it(serve: Serve):
    """An 11 MB photo at the photo step is refused with the clear answer; only its size was looked up."""
    channel = await serve()
    await channel.at(ASHA, PHOTO_STEP)
    channel.graph.add_sized_media("8804", 11 * MB, "image/jpeg")
    await channel.send(ASHA, "image", "8804")
    [received] = await channel.handed_over(1)
    media = received.metadata["media"]
    assert (media["downloaded"], media["refused"], media["notice"]) == (False, "too_large", TOO_LARGE)
    assert [r.path for r in channel.graph.media_requests("8804")] == [f"/{channel.graph.state.version}/8804"]
    assert channel.stored_files() == []


@pytest.mark.asyncio
async def test_a_stream_that_runs_past_the_cap_is_stopped_and_leaves_nothing(serve: Serve):
    """A photo whose size Meta does not announce (chunked, no length) is cut off at the cap and removed."""
    channel = await serve()
    await channel.at(ASHA, PHOTO_STEP)
    channel.graph.add_sized_media("8805", 30 * MB, "image/jpeg", announce_size=False, send_length=False)
    await channel.send(ASHA, "image", "8805")
    [received] = await channel.handed_over(1)
    assert (received.metadata["media"]["refused"], received.metadata["media"]["notice"]) == ("too_large", TOO_LARGE)
    assert channel.stored_files() == []


@pytest.mark.asyncio
async def test_the_daily_quota_refuses_files_beyond_it(serve: Serve):
    """With a 1 MB daily quota, a second 600 KB photo the same day is refused with the quota answer."""
    channel = await serve(media_quota_bytes=1 * MB)
    await channel.at(ASHA, PHOTO_STEP)
    channel.graph.add_sized_media("8806", 600 * 1024, "image/jpeg")
    channel.graph.add_sized_media("8807", 600 * 1024, "image/jpeg")
    await channel.send(ASHA, "image", "8806")
    await channel.handed_over(1)
    await channel.send(ASHA, "image", "8807")
    first, second = await channel.handed_over(2)
    assert first.metadata["media"]["downloaded"] is True
    assert second.metadata["media"]["refused"] == "quota"
    assert second.metadata["media"]["notice"] == ("You have sent as many files as I can take today (1 MB a day). "
                                                  "Please try again tomorrow.")
    assert channel.stored_files() == ["8806.jpg"]
    since = utcnow() - timedelta(hours=24)
    assert media_log.bytes_since(ASHA, since) == 600 * 1024
    assert media_log.bytes_since(ASHA, since, other_than=first.message_id) == 0  # a retried turn is not over quota


@pytest.mark.asyncio
async def test_a_large_file_streams_to_disk_in_chunks(graph: FakeGraph, tmp_path: Path):
    """A 40 MB file is written to disk with at most a few MB of Python memory in use at any time."""
    config = WhatsAppConfig("p", "w", graph.state.token, "s", "v", graph_api_url=graph.base_url,
                            api_version=graph.state.version)
    graph.add_sized_media("9901", 40 * MB, "application/pdf", send_length=False)
    client = GraphClient(dataclasses.replace(config, phone_number_id=graph.state.phone_number_id))
    try:
        info = await client.media_info("9901")
        tracemalloc.start()
        try:
            fetched = await stream_to_file(client, info.url, tmp_path, "9901", info.mime_type, 64 * MB)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await client.close()
    assert fetched.path.stat().st_size == fetched.size == 40 * MB
    assert peak < 4 * WRITE_BYTES, f"peak Python memory {peak} bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["9901.pdf"]


def test_media_settings_have_defaults_and_a_cap_above_metas_is_refused():
    """The media limits default to 10 MB, 50 MB a day, 90 and 14 days; a cap over Meta's 100 MB stops start-up."""
    required = {"WHATSAPP_PHONE_NUMBER_ID": "1", "WHATSAPP_BUSINESS_ACCOUNT_ID": "2", "WHATSAPP_API_TOKEN": "t",
                "WHATSAPP_APP_SECRET": "s", "WHATSAPP_WEBHOOK_VERIFY_TOKEN": "v"}
    config = WhatsAppConfig.from_env(required)
    assert (config.media_max_bytes, config.media_quota_bytes, config.media_retention_days,
            config.webhook_log_retention_days) == (10 * MB, 50 * MB, 90, 14)
    config = WhatsAppConfig.from_env({**required, "WHATSAPP_MEDIA_MAX_BYTES": "2000000",
                                      "WHATSAPP_MEDIA_QUOTA_BYTES": "9000000", "WHATSAPP_MEDIA_RETENTION_DAYS": "30",
                                      "WHATSAPP_WEBHOOK_LOG_RETENTION_DAYS": "7"})
    assert (config.media_max_bytes, config.media_quota_bytes, config.media_retention_days,
            config.webhook_log_retention_days) == (2_000_000, 9_000_000, 30, 7)
    with pytest.raises(ConfigError, match="WHATSAPP_MEDIA_MAX_BYTES"):
        WhatsAppConfig.from_env({**required, "WHATSAPP_MEDIA_MAX_BYTES": str(101 * MB)})
