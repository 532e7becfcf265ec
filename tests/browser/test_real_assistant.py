"""The simulator page in headless Chromium, talking to the real assistant over the WhatsApp channel.

A person picks Asha's number, says hi, taps through the main menu list to Orders and Track specific
order, types a number to pick an order, then asks in free text; we check what the chat shows. Then
the operator opens the dashboard the real management API serves and sees the live figures.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.conftest import ARTIFACTS, PHONE
from tests.browser.real_stack import RealStack, real_stack  # noqa: F401 - the module's stack fixture

ASHA = "919800000001"
BUSINESS = "[data-testid=bubble].business"
ANSWER_TIMEOUT = 30_000  # a real turn: NLU, policies, the action server and SQL


@pytest_asyncio.fixture
async def chat(browser: Browser, real_stack: RealStack) -> AsyncIterator[Page]:  # noqa: F811
    """Open the simulator on a phone-sized viewport; fail the test on any script error in the page."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2)
    context.set_default_timeout(ANSWER_TIMEOUT)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{real_stack.url}/")
    try:
        yield page
    finally:
        await context.close()
    assert errors == []


async def type_message(page: Page, text: str) -> None:
    """Type a message and press Enter."""
    await page.fill("[data-testid=message-input]", text)
    await page.press("[data-testid=message-input]", "Enter")


async def next_answer(page: Page, before: int) -> Locator:
    """Wait for a business bubble after the first `before` ones and return the newest."""
    bubbles = page.locator(BUSINESS)
    await expect(bubbles.nth(before)).to_be_visible()
    return bubbles.last


async def tap_row(page: Page, title: str) -> None:
    """Open the newest list message and tap the row with this title."""
    await page.locator("[data-testid=list-open]").last.click()
    await page.locator("[data-testid=list-row]", has_text=title).click()


@pytest.mark.asyncio
async def test_menu_taps_a_typed_number_and_free_text_get_real_answers(chat: Page) -> None:
    """Hi, the list, Orders, Track specific order, "2" and a typed question each get the right answer."""
    await chat.select_option("[data-testid=number-picker]", ASHA)
    await expect(chat.locator("[data-testid=messages]")).to_have_attribute("data-wa-id", ASHA)
    bubbles = chat.locator(BUSINESS)

    await type_message(chat, "hi")
    await expect(bubbles.first).to_contain_text("Hello Asha")
    await expect(bubbles.nth(1)).to_contain_text("How can I help you today?")
    await chat.locator("[data-testid=list-open]").last.click()
    rows = chat.locator("[data-testid=list-row]")
    await expect(rows).to_have_count(5)
    await expect(rows.first).to_contain_text("Check Order Status")
    await rows.first.click()

    orders = await next_answer(chat, 2)
    await expect(orders).to_contain_text("Orders")
    await tap_row(chat, "Track specific order")

    which = await next_answer(chat, 3)
    await expect(which).to_contain_text("Which order?")
    await which.locator("[data-testid=list-open]").click()
    second = (await rows.nth(1).locator(".row-title").inner_text()).strip()
    order_ref = re.search(r"ORD-\d{5}", second + " " + await rows.nth(1).inner_text())
    assert order_ref, f"the second row names no order: {second!r}"
    await chat.locator("[data-testid=list-sheet] [data-close]").first.click()
    await expect(chat.locator("[data-testid=list-sheet]")).to_be_hidden()

    await type_message(chat, "2")
    picked = await next_answer(chat, 4)
    await expect(picked).to_contain_text(f"{order_ref.group(0)} is")

    await type_message(chat, "where is my order ORD-10001")
    status = await next_answer(chat, 5)
    await expect(status).to_contain_text("ORD-10001 is shipped")
    await expect(status.locator("strong").first).to_have_text("ORD-10001")
    await expect(bubbles).to_have_count(6)
    await expect(chat.locator(f"{BUSINESS} .ticks[data-status=read]")).to_have_count(6)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await chat.screenshot(path=str(ARTIFACTS / "chat-real.png"))


@pytest.mark.asyncio
async def test_the_dashboard_served_by_the_management_api_shows_its_live_figures(
        browser: Browser, real_stack: RealStack) -> None:  # noqa: F811
    """The real API serves the page, accepts its token and the page shows the analytics the API computes."""
    api = f"{real_stack.stack.rasa_url}/api/whatsapp"
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(ANSWER_TIMEOUT)
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{api}/dashboard")
        await page.fill("[data-testid=token-input]", real_stack.management_token)
        await page.click("[data-testid=token-submit]")
        await expect(page.locator("body")).to_have_attribute("data-state", "ready")

        until = datetime.now(timezone.utc)
        window = {"since": (until - timedelta(days=7)).isoformat(), "until": until.isoformat()}
        auth = {"Authorization": f"Bearer {real_stack.management_token}"}
        figures = await (await page.request.get(f"{api}/analytics", params=window, headers=auth)).json()
        waiting = (await (await page.request.get(f"{api}/handoffs", headers=auth)).json())["handoffs"]
        await expect(page.locator("[data-testid=kpi-in]")).to_have_text(str(figures["messages"]["in"]))
        await expect(page.locator("[data-testid=kpi-out]")).to_have_text(str(figures["messages"]["out"]))
        await expect(page.locator("[data-testid=kpi-users]")).to_have_text(str(figures["active_users"]))
        await expect(page.locator("[data-testid=handoff-count]")).to_have_text(str(len(waiting)))
        assert (await page.request.get(f"{api}/analytics")).status == 401
        assert errors == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-real.png"), full_page=True)
    finally:
        await context.close()


@pytest.mark.asyncio
async def test_a_contact_loaded_from_a_csv_chats_as_another_number(chat: Page, real_stack: RealStack) -> None:  # noqa: F811
    """The README's own-data path: import the example CSVs, pick "Another number…", and the loaded contact sees their order."""
    import subprocess
    import sys

    from tests.harness import ROOT

    example = ROOT / "examples" / "import"
    subprocess.run([sys.executable, "-m", "connectors.data.importer",
                    "--companies", str(example / "companies.csv"), "--contacts", str(example / "contacts.csv"),
                    "--orders", str(example / "orders.csv")],
                   cwd=ROOT, env=real_stack.stack.env, check=True, capture_output=True, timeout=120)
    meena = "919811110002"
    chat.once("dialog", lambda dialog: dialog.accept(f"+{meena}"))
    await chat.select_option("[data-testid=number-picker]", "other")
    await expect(chat.locator("[data-testid=messages]")).to_have_attribute("data-wa-id", meena)
    await expect(chat.locator("[data-testid=my-number]")).to_contain_text("98111")

    await type_message(chat, "where is my order ORD-30001")
    answer = await next_answer(chat, 0)
    await expect(answer).to_contain_text("ORD-30001")
    await expect(answer).to_contain_text(re.compile("production", re.I))
    await chat.screenshot(path=str(ARTIFACTS / "simulator-own-data.png"))
