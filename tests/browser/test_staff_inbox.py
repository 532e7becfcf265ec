"""The staff inbox in headless Chromium against the real stack: Rasa with the WhatsApp, management and
staff channels, the action server, and the simulator playing Meta.

Ravi asks for a person over the webhook; Meera signs in, sees him waiting, reads the conversation,
replies (the simulator's phone shows it), and hands back; Arjun, signed in elsewhere, sees that Meera
answered. A stranger whose message and profile name are markup shows as literal text, nothing runs.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from connectors.management.handoff import RELEASE_NOTE
from tests.browser.real_stack import PHONE_NUMBER_ID
from tests.connectors.whatsapp_support import button_reply, delivery, message, signed, text
from tests.harness import ROOT, Stack, free_port, keep_logs, running_stack, start, wait_http

SCREENSHOTS = ROOT / "results" / "screenshots"
RAVI, STRANGER = "919800000002", "919800000078"
PASSWORD = secrets.token_urlsafe(18)
TIMEOUT = 30_000
HOSTILE_TEXT = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> my order is late'
HOSTILE_NAME = '<img src=x onerror="window.pwned=3">Mallory<script>window.pwned=4</script>'
PEER = "919800000079"
HOSTILE_FILENAME = '<img src=x onerror="window.pwned=5">invoice.pdf'
HOSTILE_CAPTION = '<script>window.pwned=6</script>see the invoice'
HOSTILE_TAP = '<svg onload="window.pwned=7">'
HOSTILE_CUSTOMER = '<iframe srcdoc="<script>parent.pwned=8</script>">Priya'
HOSTILE_COMPANY = '<b onmouseover="window.pwned=9">Evil Co</b>'
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class InboxStack:
    """The running stack and where to reach it."""

    stack: Stack
    simulator_url: str

    @property
    def staff_url(self) -> str:
        """Return the inbox page's URL."""
        return f"{self.stack.rasa_url}/staff"

    def sql(self, statement: str, *params: Any) -> list[tuple]:
        """Read the business database."""
        with sqlite3.connect(self.stack.db_url.removeprefix("sqlite:///")) as connection:
            return connection.execute(statement, params).fetchall()

    def write(self, statement: str, *params: Any) -> None:
        """Change the business database, as the company's own data would."""
        with sqlite3.connect(self.stack.db_url.removeprefix("sqlite:///")) as connection:
            connection.execute(statement, params)

    def phone(self, wa_id: str) -> list[dict[str, Any]]:
        """Return the bubbles the simulator's phone shows for a number."""
        with _NO_PROXY.open(f"{self.simulator_url}/sim/api/chats/{wa_id}?since=0", timeout=10) as answer:
            return json.loads(answer.read())["items"]

    def say(self, wa_id: str, words: str) -> None:
        """Send what a customer types, through the simulator (it signs the webhook)."""
        request = urllib.request.Request(f"{self.simulator_url}/sim/api/chats/{wa_id}/messages",
                                         json.dumps({"kind": "text", "text": words}).encode(),
                                         {"Content-Type": "application/json"}, method="POST")
        _NO_PROXY.open(request, timeout=30).close()

    def webhook(self, wa_id: str, words: str, profile_name: str) -> None:
        """Post a signed delivery straight to the channel, with a profile name of our choosing."""
        contact, message = text(wa_id, words)
        contact["profile"] = {"name": profile_name}
        self.deliver((contact, message))

    def deliver(self, *pairs: tuple[dict[str, Any], dict[str, Any]]) -> None:
        """Post a signed delivery of these (contact, message) pairs straight to the channel."""
        body, headers = signed(delivery(*pairs, phone_number_id=PHONE_NUMBER_ID),
                               self.stack.env["WHATSAPP_APP_SECRET"])
        request = urllib.request.Request(f"{self.stack.rasa_url}/webhooks/whatsapp/webhook", body, headers,
                                         method="POST")
        _NO_PROXY.open(request, timeout=30).close()


def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Return check()'s first truthy value, or fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


@pytest.fixture(scope="module")
def inbox_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InboxStack]:
    """Start the action server, Rasa with the three channels, and the simulator; create two staff accounts."""
    token, app_secret, verify, management_token = (secrets.token_hex(24) for _ in range(4))
    workdir = tmp_path_factory.mktemp("staff-inbox")
    simulator_url = f"http://127.0.0.1:{free_port()}"
    env = {
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": "102030405060",
        "WHATSAPP_API_TOKEN": token, "WHATSAPP_APP_SECRET": app_secret, "WHATSAPP_WEBHOOK_VERIFY_TOKEN": verify,
        "WHATSAPP_GRAPH_API_URL": simulator_url, "WHATSAPP_MEDIA_DIR": str(workdir / "media"),
        "MANAGEMENT_API_TOKEN": management_token, "NOTIFY_SCAN_SECONDS": "0",
    }
    credentials = workdir / "credentials.yml"
    credentials.write_text("connectors.whatsapp.WhatsAppInput:\nconnectors.management.ManagementInput:\n"
                           "connectors.staff.StaffInput:\n")
    try:
        with running_stack(workdir, credentials=credentials, extra_env=env) as stack:
            for username, name in (("meera", "Meera"), ("arjun", "Arjun")):
                subprocess.run([sys.executable, "-m", "connectors.staff.accounts", "create", username, "--name", name],
                               cwd=ROOT, env={**stack.env, "STAFF_PASSWORD": PASSWORD}, check=True,
                               stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            command = ["python", "-m", "simulator", "--port", simulator_url.rsplit(":", 1)[1],
                       "--rasa-webhook", f"{stack.rasa_url}/webhooks/whatsapp/webhook"]
            simulator = start(command, stack.env, workdir / "simulator.log")
            try:
                wait_http(f"{simulator_url}/", proc=simulator.proc, timeout=30)
                yield InboxStack(stack, simulator_url)
            finally:
                simulator.stop()
    finally:
        keep_logs(workdir, ROOT / "var" / "browser-logs" / workdir.name)


@pytest_asyncio.fixture
async def staff_page(browser: Browser) -> AsyncIterator[Callable[[], Any]]:
    """Open fresh browser contexts (one per person) on a desktop viewport; fail on any script error."""
    contexts, errors = [], []

    async def new_page() -> Page:
        context = await browser.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(TIMEOUT)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
        return page

    yield new_page
    for context in contexts:
        await context.close()
    assert errors == []


async def sign_in(page: Page, url: str, username: str) -> None:
    """Open the inbox, get sent to the sign-in page, sign in and land on the inbox."""
    await page.goto(url)
    await expect(page).to_have_url(f"{url}/signin")
    await expect(page.locator("body")).to_have_attribute("data-state", "ready")
    await page.fill("[data-testid=username]", username)
    await page.fill("[data-testid=password]", PASSWORD)
    await page.click("[data-testid=signin-submit]")
    await expect(page).to_have_url(url)
    await expect(page.locator("body")).to_have_attribute("data-state", "ready")


def screenshot_path(name: str) -> str:
    """Return where a screenshot goes (results/ is not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / name)


@pytest.mark.asyncio
async def test_a_person_answers_a_waiting_customer_and_hands_back(inbox_stack: InboxStack, staff_page) -> None:
    """Meera sees Ravi waiting, reads and answers him (his phone shows it), Arjun sees it was Meera, Meera hands back."""
    inbox_stack.say(RAVI, "I want to talk to a person")
    eventually(lambda: inbox_stack.sql("SELECT id FROM handoffs WHERE open_key = ?", RAVI), "Ravi's handoff")
    answered = eventually(lambda: [b for b in inbox_stack.phone(RAVI) if b["side"] == "business"], "the bot's answer")

    meera = await staff_page()
    await sign_in(meera, inbox_stack.staff_url, "meera")
    await expect(meera.locator("[data-testid=me-name]")).to_have_text("Meera")
    row = meera.locator(f"[data-testid=conversation-row][data-wa-id='{RAVI}']")
    await expect(row).to_have_attribute("data-state", "waiting")
    await expect(meera.locator("[data-testid=conversation-row]").first).to_have_attribute("data-wa-id", RAVI)
    await expect(row.locator("[data-testid=row-name]")).to_have_text("Ravi Kumar")
    await expect(row.locator("[data-testid=row-waited]")).to_have_text("just now")
    await expect(row.locator("[data-testid=row-last]")).to_have_text("I want to talk to a person")
    await meera.screenshot(path=screenshot_path("staff-inbox-waiting.png"))

    await row.click()
    messages = meera.locator("[data-testid=message]")
    await expect(meera.locator("[data-testid=conv-name]")).to_have_text("Ravi Kumar")
    await expect(meera.locator("[data-testid=conv-state]")).to_contain_text("Waiting for a person")
    await expect(messages.first).to_have_attribute("data-direction", "in")
    await expect(messages.first.locator("[data-testid=message-text]")).to_have_text("I want to talk to a person")
    bot = meera.locator("[data-testid=message][data-from=bot]")
    await expect(bot).to_have_count(len(answered))

    await meera.fill("[data-testid=reply-input]", "Hi Ravi, Meera here. Checking your order now.")
    await meera.click("[data-testid=reply-send]")
    mine = meera.locator("[data-testid=message][data-from=staff]")
    await expect(mine).to_have_count(1)
    await expect(mine.locator("[data-testid=message-author]")).to_have_text("Meera")
    await expect(mine.locator("[data-testid=ticks]")).not_to_have_attribute("data-status", "queued")
    await expect(meera.locator("[data-testid=reply-input]")).to_have_value("")
    await expect(meera.locator("[data-testid=conv-state]")).to_have_text("With Meera")
    on_phone = eventually(lambda: [b for b in inbox_stack.phone(RAVI) if b["side"] == "business"
                                   and b["message"].get("text", {}).get("body", "").startswith("Hi Ravi, Meera")],
                          "the reply on Ravi's phone")
    assert len(on_phone) == 1
    await meera.screenshot(path=screenshot_path("staff-inbox-replied.png"))

    arjun = await staff_page()
    await sign_in(arjun, inbox_stack.staff_url, "arjun")
    arjun_row = arjun.locator(f"[data-testid=conversation-row][data-wa-id='{RAVI}']")
    await expect(arjun_row.locator("[data-testid=row-state]")).to_have_text("With Meera")
    await arjun_row.click()
    await expect(arjun.locator("[data-testid=message][data-from=staff] [data-testid=message-author]")).to_have_text("Meera")
    await arjun.screenshot(path=screenshot_path("staff-inbox-second-account.png"))

    await meera.click("[data-testid=hand-back]")
    await expect(meera.locator("[data-testid=conv-state]")).to_have_text("With the bot")
    await expect(meera.locator("[data-testid=take-over]")).to_be_visible()
    await expect(meera.locator("[data-testid=message][data-from=system]")).to_have_count(1)
    eventually(lambda: [b for b in inbox_stack.phone(RAVI) if b["message"].get("text", {}).get("body") == RELEASE_NOTE],
               "the hand-back note on Ravi's phone")
    assert inbox_stack.sql("SELECT open_key FROM handoffs WHERE wa_id = ?", RAVI) == [(None,)]
    # Arjun's page catches up by itself (polling): no reload.
    await expect(arjun.locator("[data-testid=conv-state]")).to_have_text("With the bot")
    actions = inbox_stack.sql("SELECT actor, action FROM staff_audit WHERE wa_id = ? ORDER BY id", RAVI)
    assert actions == [("meera", "reply"), ("meera", "hand_back")]


@pytest.mark.asyncio
async def test_markup_from_a_customer_is_shown_as_text_and_never_runs(inbox_stack: InboxStack, staff_page) -> None:
    """A message and a profile name made of <img onerror> and <script> show literally; nothing executes."""
    inbox_stack.webhook(STRANGER, HOSTILE_TEXT, HOSTILE_NAME)
    eventually(lambda: inbox_stack.sql("SELECT id FROM whatsapp_inbound WHERE wa_id = ?", STRANGER), "the stored message")
    page = await staff_page()
    await sign_in(page, inbox_stack.staff_url, "meera")
    await page.fill("[data-testid=search]", "Mallory")
    row = page.locator("[data-testid=conversation-row]")
    await expect(row).to_have_count(1)
    await expect(row.locator("[data-testid=row-name]")).to_have_text(HOSTILE_NAME)
    await expect(row.locator("[data-testid=row-last]")).to_have_text(HOSTILE_TEXT)
    await row.click()
    await expect(page.locator("[data-testid=conv-name]")).to_have_text(HOSTILE_NAME)
    await expect(page.locator("[data-testid=message][data-direction=in] [data-testid=message-text]").first
                 ).to_have_text(HOSTILE_TEXT)
    assert await page.locator("main img, main script").count() == 0
    assert await page.evaluate("window.pwned") is None
    await page.screenshot(path=screenshot_path("staff-inbox-markup-as-text.png"))


@pytest.mark.asyncio
async def test_markup_in_files_captions_taps_and_company_data_is_shown_as_text(inbox_stack: InboxStack,
                                                                                staff_page) -> None:
    """A document's filename and caption, a tapped button's title, and a customer's name and company made of
    markup all show literally in the list and the conversation; nothing executes."""
    inbox_stack.write("INSERT INTO companies (ref, name, created_at, updated_at) VALUES ('EVIL-1', ?, "
                      "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", HOSTILE_COMPANY)
    inbox_stack.write("INSERT INTO customers (wa_id, name, company_id, company, role, created_at) SELECT ?, ?, id, "
                      "name, 'customer', CURRENT_TIMESTAMP FROM companies WHERE ref = 'EVIL-1'", PEER, HOSTILE_CUSTOMER)
    document = message("media", "document", PEER, document={
        "caption": HOSTILE_CAPTION, "filename": HOSTILE_FILENAME, "mime_type": "application/pdf", "id": "900100200"})
    inbox_stack.deliver(document, button_reply(PEER, "/menu_orders", HOSTILE_TAP))
    eventually(lambda: len(inbox_stack.sql("SELECT id FROM whatsapp_inbound WHERE wa_id = ?", PEER)) == 2,
               "the two stored messages")
    page = await staff_page()
    await sign_in(page, inbox_stack.staff_url, "meera")
    await page.fill("[data-testid=search]", "Evil Co")
    row = page.locator("[data-testid=conversation-row]")
    await expect(row).to_have_count(1)
    await expect(row.locator("[data-testid=row-name]")).to_have_text(HOSTILE_CUSTOMER)
    await expect(row.locator("[data-testid=row-company]")).to_have_text(HOSTILE_COMPANY)
    await row.click()
    await expect(page.locator("[data-testid=conv-name]")).to_have_text(HOSTILE_CUSTOMER)
    await expect(page.locator("[data-testid=conv-company]")).to_contain_text(HOSTILE_COMPANY)
    received = page.locator("[data-testid=message][data-direction=in]")
    await expect(received.locator("[data-testid=message-file]")).to_contain_text(HOSTILE_FILENAME)
    await expect(received.locator("[data-testid=message-text]")).to_have_text([HOSTILE_CAPTION, HOSTILE_TAP])
    assert await page.locator("main img, main script, main svg, main b, main iframe").count() == 0
    assert await page.evaluate("window.pwned") is None
    await page.screenshot(path=screenshot_path("staff-inbox-markup-in-files-and-company.png"))


@pytest.mark.asyncio
async def test_taking_over_a_conversation_pauses_the_bot(inbox_stack: InboxStack, staff_page) -> None:
    """Meera takes over Asha's conversation; Asha's next message gets no bot answer until Meera hands back."""
    asha = "919800000001"
    inbox_stack.say(asha, "hi")
    eventually(lambda: [b for b in inbox_stack.phone(asha) if b["side"] == "business"], "the bot's greeting")
    page = await staff_page()
    await sign_in(page, inbox_stack.staff_url, "meera")
    await page.fill("[data-testid=search]", "asha")
    await page.locator(f"[data-testid=conversation-row][data-wa-id='{asha}']").click()
    await expect(page.locator("[data-testid=notice]")).to_contain_text("Take it over to reply")
    await page.click("[data-testid=take-over]")
    await expect(page.locator("[data-testid=conv-state]")).to_have_text("With Meera")
    before = len([b for b in inbox_stack.phone(asha) if b["side"] == "business"])
    inbox_stack.say(asha, "where is my order ORD-10001")
    await expect(page.locator("[data-testid=message][data-direction=in]").last).to_contain_text("ORD-10001")
    time.sleep(3)  # a bot turn takes about a second here; none must come
    assert len([b for b in inbox_stack.phone(asha) if b["side"] == "business"]) == before
    await page.click("[data-testid=hand-back]")
    await expect(page.locator("[data-testid=conv-state]")).to_have_text("With the bot")
