"""The simulator app in-process on a free 127.0.0.1 port, wired to the fake assistant webhook."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import AsyncIterator

from aiohttp import web

from simulator.app import Simulator, make_app
from simulator.page_api import SIMULATOR
from simulator.settings import Settings
from tests.fakes.assistant_webhook import FakeAssistant

APP_SECRET = "simulator-test-app-secret"
TOKEN = "simulator-test-token"
PHONE_NUMBER_ID = "109876543210"


@dataclass
class SimulatorStack:
    """A running simulator and the fake assistant it posts webhooks to."""

    url: str  # http://127.0.0.1:PORT, the page and the Graph API root
    simulator: Simulator
    assistant: FakeAssistant
    settings: Settings


@contextlib.asynccontextmanager
async def simulator_stack(sent_after: float = 0.1, delivered_after: float = 0.3) -> AsyncIterator[SimulatorStack]:
    """Start the fake assistant, then the simulator pointing at it; stop both afterwards."""
    assistant = await FakeAssistant(APP_SECRET, TOKEN, PHONE_NUMBER_ID).start()
    settings = Settings(api_token=TOKEN, app_secret=APP_SECRET, phone_number_id=PHONE_NUMBER_ID,
                        rasa_webhook=assistant.webhook_url)
    app = make_app(settings, sent_after=sent_after, delivered_after=delivered_after)
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        assistant.graph_url = url
        yield SimulatorStack(url, app[SIMULATOR], assistant, settings)
    finally:
        await assistant.close()
        await runner.cleanup()
