"""Browser fixtures: Debian's Chromium driven by Playwright, and the simulator with a fake assistant.

Chromium comes from `scripts/install_browser.sh` (apt), never from `playwright install`.
"""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest
import pytest_asyncio

from tests.fakes.simulator_stack import SimulatorStack, simulator_stack

async_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed "
                                "(pip install -r requirements-browser.txt)")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest_asyncio.fixture
async def stack() -> AsyncIterator[SimulatorStack]:
    """Run the simulator in-process with the fake assistant behind its webhook."""
    async with simulator_stack() as running:
        yield running


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[async_api.Browser]:
    """Launch headless Chromium, or skip when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM}: run scripts/install_browser.sh")
    async with async_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture
async def page(browser: async_api.Browser, stack: SimulatorStack) -> AsyncIterator[async_api.Page]:
    """Open the simulator on a phone-sized viewport; fail the test on any script error in the page."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2)
    context.set_default_timeout(10_000)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    await opened.goto(f"{stack.url}/")
    try:
        yield opened
    finally:
        await context.close()
    assert errors == []
