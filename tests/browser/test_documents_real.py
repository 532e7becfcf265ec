"""The simulator page in headless Chromium, with the real assistant sending an order's invoice as a document."""
from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.real_stack import real_stack  # noqa: F401 - the module's stack fixture
from tests.browser.test_real_assistant import ASHA, BUSINESS, chat, type_message  # noqa: F401


@pytest.mark.asyncio
async def test_the_invoice_shows_as_a_document_card_with_its_caption(chat: Page) -> None:
    """Asha asks for ORD-10001's invoice: a PDF card with its name and the caption appears, and it opens a PDF."""
    await chat.select_option("[data-testid=number-picker]", ASHA)
    await expect(chat.locator("[data-testid=messages]")).to_have_attribute("data-wa-id", ASHA)
    await type_message(chat, "send me the invoice for ORD-10001")
    card = chat.locator(f"{BUSINESS} a.doc-card").last
    await expect(card).to_contain_text("Invoice ORD-10001.pdf")
    await expect(card).to_contain_text("PDF")
    bubble = chat.locator(BUSINESS).last
    await expect(bubble).to_contain_text("📄 Invoice for ORD-10001")

    answer = await chat.request.get(await card.evaluate("link => link.href"))
    assert answer.status == 200 and (await answer.body()).startswith(b"%PDF-")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await chat.screenshot(path=str(ARTIFACTS / "chat-document.png"))
