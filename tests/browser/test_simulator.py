"""The simulator page in headless Chromium: what a person sees and taps, and what the webhook receives."""
from __future__ import annotations

import asyncio
import struct
import time
import zlib
from typing import Any, Callable

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import ARTIFACTS
from tests.fakes.simulator_stack import TOKEN, SimulatorStack

RAVI = "919800000002"
ASHA = "919800000001"
BUBBLES = "[data-testid=bubble]"
BUSINESS = "[data-testid=bubble].business"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """Return a small solid-colour PNG."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Wait until check() returns something truthy, and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def choose(page: Page, wa_id: str) -> None:
    """Pick the number to chat as."""
    await page.select_option("[data-testid=number-picker]", wa_id)
    await expect(page.locator("[data-testid=messages]")).to_have_attribute("data-wa-id", wa_id)


async def type_message(page: Page, text: str) -> None:
    """Type a message and press Enter."""
    await page.fill("[data-testid=message-input]", text)
    await page.press("[data-testid=message-input]", "Enter")


@pytest.mark.asyncio
async def test_page_shows_the_business_and_the_demo_numbers(page: Page) -> None:
    """The header names the business and the picker offers both customers, staff, a stranger and any other number."""
    await expect(page.locator("[data-testid=business-name]")).to_have_text("ACME Manufacturing")
    options = await page.locator("[data-testid=number-picker] option").all_inner_texts()
    assert options == ["Asha Mehta · Asha Traders", "Ravi Kumar · Bharat Textiles", "Priya Shah · staff",
                       "Neha Joshi · unregistered", "Another number…"]
    await choose(page, "919800000099")
    await expect(page.locator("[data-testid=my-number]")).to_have_text("+91 98000 00099")


@pytest.mark.asyncio
async def test_menu_path_by_taps_sends_the_right_webhooks_and_shows_answers(page: Page, stack: SimulatorStack) -> None:
    """"hi" shows a 5-row list; a row tap and a button tap reach the webhook with id, title and context."""
    await choose(page, RAVI)
    await type_message(page, "hi")
    await page.click("[data-testid=list-open]")
    rows = page.locator("[data-testid=list-row]")
    await expect(rows).to_have_count(5)
    await expect(rows.nth(1)).to_contain_text("Report Defect")
    list_wamid = await page.locator(BUSINESS).first.get_attribute("data-wamid")
    await rows.nth(1).click()

    buttons = page.locator("[data-testid=reply-button]")
    await expect(buttons).to_have_text(["Track order", "Report a defect", "Main menu"])
    row_tap = stack.assistant.messages()[-1]
    assert row_tap["context"]["id"] == list_wamid
    assert row_tap["interactive"]["list_reply"] == {"id": "menu_defects", "title": "Report Defect",
                                                    "description": "Tell us what went wrong"}
    buttons_wamid = await page.locator(BUSINESS).nth(1).get_attribute("data-wamid")
    await buttons.first.click()

    answer = page.locator(BUSINESS).nth(2)
    await expect(answer).to_contain_text("Done: Track order (order_track)")
    await expect(answer.locator("strong")).to_have_text("Track order")
    button_tap = stack.assistant.messages()[-1]
    assert button_tap["context"]["id"] == buttons_wamid
    assert button_tap["interactive"] == {"type": "button_reply",
                                         "button_reply": {"id": "order_track", "title": "Track order"}}
    await expect(page.locator(f"{BUBBLES}.user").nth(1)).to_contain_text("Report Defect")
    await expect(page.locator(f"{BUSINESS} .ticks[data-status=read]")).to_have_count(3)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "simulator.png"))


@pytest.mark.asyncio
async def test_formatting_renders_and_typed_html_stays_text(page: Page) -> None:
    """WhatsApp markers become bold, strike and mono; typed HTML is shown as text and never runs."""
    attack = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> *hey*'
    await type_message(page, attack)
    reply = page.locator(BUSINESS).first
    await expect(reply).to_contain_text("You said:")
    await expect(reply.locator("strong")).to_contain_text("<script>window.pwned = 1</script>")
    await expect(reply.locator("s")).to_have_text("old")
    await expect(reply.locator("code.mono")).to_have_text("x<y")
    assert await page.locator("[data-testid=messages] script, [data-testid=messages] img").count() == 0
    assert await page.evaluate("window.pwned") is None
    await expect(page.locator(f"{BUBBLES}.user .text")).to_contain_text('<img src=x onerror="window.pwned = 2">')


@pytest.mark.asyncio
async def test_photo_upload_goes_through_the_graph_media_path(page: Page, stack: SimulatorStack) -> None:
    """A photo from the page is an image webhook whose media id the stand-in serves to the token holder."""
    photo = png(64, 48, (200, 80, 60))
    await choose(page, ASHA)
    await page.set_input_files("[data-testid=photo-input]",
                               files=[{"name": "cone.png", "mimeType": "image/png", "buffer": photo}])
    await page.fill("[data-testid=caption-input]", "Broken cone")
    await page.click("[data-testid=photo-send]")

    await expect(page.locator(BUSINESS)).to_contain_text(f"Got your photo ({len(photo)} bytes): Broken cone")
    image = stack.assistant.messages()[-1]["image"]
    assert (image["caption"], image["mime_type"]) == ("Broken cone", "image/png")
    assert stack.assistant.media[image["id"]] == photo
    shown = page.locator(f"{BUBBLES}.user img.photo")
    await expect(shown).to_have_attribute("src", f"/sim/media/{image['id']}")
    assert await shown.evaluate("img => img.complete && img.naturalWidth") == 64
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.url}/v25.0/{image['id']}", headers=auth) as response:
            url = (await response.json())["url"]
        async with http.get(url, headers=auth) as response:
            assert await response.read() == photo


@pytest.mark.asyncio
async def test_ticks_follow_the_statuses_the_webhook_accepted(page: Page, stack: SimulatorStack) -> None:
    """The reply's ticks end blue after sent, delivered and read statuses were acknowledged, in that order."""
    await type_message(page, "status please")
    reply = page.locator(BUSINESS).first
    await expect(reply.locator(".ticks")).to_have_attribute("data-status", "read")
    wamid = await reply.get_attribute("data-wamid")
    assert [s["status"] for s in stack.assistant.statuses() if s["id"] == wamid] == ["sent", "delivered", "read"]
    mine = page.locator(f"{BUBBLES}.user .ticks")
    await expect(mine).to_have_attribute("data-status", "read")  # the assistant marked it read


@pytest.mark.asyncio
async def test_each_number_keeps_its_own_history(page: Page) -> None:
    """Switching numbers shows that number's chat; switching back shows the earlier one again."""
    await choose(page, ASHA)
    await type_message(page, "hello from Asha")
    await expect(page.locator(BUSINESS)).to_have_count(1)
    await choose(page, RAVI)
    await expect(page.locator(BUBBLES)).to_have_count(0)
    await type_message(page, "hi")
    await expect(page.locator("[data-testid=list-open]")).to_have_count(1)
    await choose(page, ASHA)
    await expect(page.locator(BUBBLES)).to_have_count(2)
    await expect(page.locator(BUBBLES).first).to_contain_text("hello from Asha")
    await expect(page.locator("[data-testid=list-open]")).to_have_count(0)


@pytest.mark.asyncio
async def test_a_refused_delivery_shows_an_error_bubble(page: Page) -> None:
    """When the webhook answers 500 the message gets an error note with the status."""
    await type_message(page, "please fail")
    await expect(page.locator("[data-testid=error-bubble]")).to_contain_text("answered 500")
    await expect(page.locator(f"{BUBBLES}.user .ticks")).to_have_attribute("data-status", "error")


@pytest.mark.asyncio
async def test_business_media_and_templates_render_and_template_taps_send_the_payload(
        page: Page, stack: SimulatorStack) -> None:
    """Images by id or link, documents by link and templates show up; a template button sends its payload."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    graph = f"{stack.url}/v25.0/{stack.settings.phone_number_id}"
    photo = png(40, 30, (30, 120, 200))
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData({"messaging_product": "whatsapp", "type": "image/png"})
        form.add_field("file", photo, filename="run.png", content_type="image/png")
        async with http.post(f"{graph}/media", data=form, headers=auth) as response:
            media_id = (await response.json())["id"]
        sends = [
            {"type": "image", "image": {"id": media_id, "caption": "Run *R-17*"}},
            {"type": "image", "image": {"link": f"{stack.url}/sim/media/{media_id}"}},
            {"type": "document", "document": {"link": f"{stack.url}/sim/media/{media_id}", "filename": "invoice.pdf"}},
            {"type": "template", "template": {"name": "order_ready_for_pickup", "language": {"code": "en_US"},
                                              "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "ORD-10007"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0",
                 "parameters": [{"type": "payload", "payload": "PICKUP_CONFIRM"}]}]}},
        ]
        for send in sends:
            body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": f"+{ASHA}", **send}
            async with http.post(f"{graph}/messages", json=body, headers=auth) as response:
                assert response.status == 200, await response.text()

    bubbles = page.locator(BUSINESS)
    await expect(bubbles).to_have_count(4)
    await expect(bubbles.nth(0).locator("img.photo")).to_have_attribute("src", f"/sim/media/{media_id}")
    await expect(bubbles.nth(0).locator(".caption strong")).to_have_text("R-17")
    await expect(bubbles.nth(1).locator("img.photo")).to_have_attribute("src", f"{stack.url}/sim/media/{media_id}")
    await expect(bubbles.nth(2).locator("a.doc-card")).to_contain_text("invoice.pdf")
    template = bubbles.nth(3)
    await expect(template).to_contain_text("order_ready_for_pickup")
    await expect(template.locator(".template-params li")).to_have_text(["Asha", "ORD-10007"])
    await template.locator("[data-testid=template-button]").click()
    await eventually(lambda: stack.assistant.messages())
    tap = stack.assistant.messages()[-1]
    assert tap["type"] == "button" and tap["button"] == {"payload": "PICKUP_CONFIRM", "text": "PICKUP_CONFIRM"}
    assert tap["context"]["id"] == await template.get_attribute("data-wamid")


@pytest.mark.asyncio
async def test_desktop_shows_the_phone_centred(browser, stack: SimulatorStack) -> None:
    """On a desktop screen the chat sits in a phone frame in the middle of the window."""
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        page = await context.new_page()
        await page.goto(f"{stack.url}/#{RAVI}")
        await type_message(page, "hi")
        await expect(page.locator("[data-testid=list-open]")).to_be_visible()
        box = await page.locator("#phone").bounding_box()
        assert box is not None and box["width"] == 390
        assert abs(box["x"] + box["width"] / 2 - 683) <= 1 and abs(box["y"] + box["height"] / 2 - 450) <= 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "simulator-desktop.png"))
    finally:
        await context.close()
