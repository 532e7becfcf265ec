"""The operator dashboard in headless Chromium, against a stand-in for the management API.

The stand-in serves connectors/management/static/ where the management API serves it (the page at
/api/whatsapp/dashboard, its files below it) and answers /api/whatsapp/analytics and /handoffs with
fixture JSON in the shape analytics.compute() returns, only for the right bearer token.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import ARTIFACTS

STATIC = Path(__file__).resolve().parents[2] / "connectors" / "management" / "static"
TOKEN = "dashboard-test-token"
DESKTOP = {"width": 1366, "height": 900}


def analytics_fixture() -> dict[str, Any]:
    """Return a week of figures shaped like connectors.management.analytics.compute()."""
    per_day = [("2025-11-18", 42, 97, 11), ("2025-11-19", 55, 121, 14), ("2025-11-20", 38, 80, 9),
               ("2025-11-21", 61, 140, 17), ("2025-11-22", 24, 51, 6), ("2025-11-23", 12, 27, 4),
               ("2025-11-24", 48, 109, 13)]
    counts = [("greet", 64), ("track_order", 52), ("menu_orders", 31), ("schedule_today", 22),
              ("faq", 20), ("menu_main", 18), ("report_defect", 16), ("nlu_fallback", 14),
              ("menu_support", 12), ("choose_option", 9), ("human_handoff", 7), ("thank", 7), ("goodbye", 6)]
    turns = sum(count for _, count in counts)
    return {
        "window": {"since": "2025-11-17T18:30:00Z", "until": "2025-11-24T18:30:00Z", "timezone": "Asia/Kolkata"},
        "messages": {"in": 280, "out": 625,
                     "per_day": [{"day": d, "in": i, "out": o, "active_users": u} for d, i, o, u in per_day]},
        "active_users": 37,
        "intents": {"user_turns": turns,
                    "counts": [{"intent": n, "count": c, "share": round(c / turns, 4)} for n, c in counts],
                    "numbers": {"typed": 41, "resolved": 32, "unresolved": 9}},
        "fallback": {"turns": 15, "rate": round(15 / turns, 4), "nlu_fallback": 14, "action_default_fallback": 1},
        "funnel": [{"step": "main_menu", "users": 30}, {"step": "sub_menu", "users": 24},
                   {"step": "answer", "users": 18}],
        "handoffs": {"requests": 7, "users": 6},
        "latency_ms": {"samples": 272, "p50": 840.5, "p90": 1930.0, "p99": 4210.2},
        "delivery": {"accepted": 4, "delivered": 160, "failed": 6, "read": 410, "sent": 45},
    }


def handoffs_fixture() -> dict[str, Any]:
    """Return two conversations waiting for a person (openapi Handoff), one message looking like HTML."""
    now = datetime.now(timezone.utc).replace(microsecond=0)

    def ago(minutes: int) -> str:
        return (now - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    return {"handoffs": [
        {"wa_id": "919800000009", "state": "waiting", "since": ago(4), "last_activity_at": ago(4),
         "name": "Priya Shah", "profile_name": "Priya", "company": None, "messages_waiting": 0,
         "staff_replies": 0, "last_message": {"text": "I want to talk to a person", "kind": "text", "at": ago(4)}},
        {"wa_id": "919800000002", "state": "waiting", "since": ago(23), "last_activity_at": ago(23),
         "name": "Ravi Kumar", "profile_name": "Ravi", "company": "Bharat Textiles", "messages_waiting": 3,
         "staff_replies": 0, "last_message": {"text": '<img src=x onerror="window.pwned=1"> the dye lot is wrong',
                                              "kind": "text", "at": ago(2)}},
    ]}


@dataclass
class FakeManagementAPI:
    """The dashboard's server side: static files plus two JSON endpoints behind a bearer token."""

    url: str = ""
    requests: list[web.Request] = field(default_factory=list)
    analytics: dict[str, Any] = field(default_factory=analytics_fixture)
    handoffs: dict[str, Any] = field(default_factory=handoffs_fixture)
    fail_analytics: bool = False  # answer /analytics with a 500

    def app(self) -> web.Application:
        """Build the aiohttp app."""
        app = web.Application()
        app.router.add_get("/api/whatsapp/dashboard", self.index)
        app.router.add_static("/api/whatsapp/dashboard", STATIC)
        app.router.add_get("/api/whatsapp/analytics", self.json_route(self.analytics_body))
        app.router.add_get("/api/whatsapp/handoffs", self.json_route(lambda: self.handoffs))
        return app

    async def index(self, _: web.Request) -> web.FileResponse:
        """Serve the page."""
        return web.FileResponse(STATIC / "index.html")

    def analytics_body(self) -> web.Response:
        """Return the analytics, or the API's error envelope when told to fail."""
        if self.fail_analytics:
            return web.json_response({"error": "database_unavailable"}, status=500)
        return web.json_response(self.analytics)

    def json_route(self, body: Callable[[], Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Answer with body() for the right token, 401 otherwise."""
        async def handler(request: web.Request) -> web.Response:
            self.requests.append(request)
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"error": "unauthorized"}, status=401)
            answer = body()
            return answer if isinstance(answer, web.Response) else web.json_response(answer)
        return handler


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeManagementAPI]:
    """Serve the stand-in on a free 127.0.0.1 port."""
    fake = FakeManagementAPI()
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield fake
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def dashboard(browser: Browser, api: FakeManagementAPI) -> AsyncIterator[Page]:
    """Open the dashboard on a desktop viewport; fail the test on any script error in the page."""
    context = await browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    await page.goto(f"{api.url}/api/whatsapp/dashboard")
    try:
        yield page
    finally:
        await context.close()
    assert errors == [] and failed == []


async def sign_in(page: Page, token: str) -> None:
    """Type a token into the sign-in form and submit it."""
    await page.fill("[data-testid=token-input]", token)
    await page.click("[data-testid=token-submit]")


async def until_true(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until check() holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def chart_data(page: Page, testid: str) -> dict[str, Any]:
    """Return the labels and first dataset's values Chart.js is drawing on a canvas."""
    return await page.evaluate(
        """id => { const chart = Chart.getChart(document.querySelector(`[data-testid="${id}"]`));
                   return {type: chart.config.type, labels: chart.data.labels,
                           values: chart.data.datasets.map(d => d.data)}; }""", testid)


@pytest.mark.asyncio
async def test_the_token_is_asked_for_and_sent_as_a_bearer_header(dashboard: Page, api: FakeManagementAPI) -> None:
    """A wrong token brings the form back with an error; the right one loads the figures with it."""
    await expect(dashboard.locator("[data-testid=signin]")).to_be_visible()
    assert api.requests == []
    await sign_in(dashboard, "not-the-token")
    await expect(dashboard.locator("[data-testid=signin-error]")).to_contain_text("not accepted")
    await expect(dashboard.locator("[data-testid=dashboard]")).to_be_hidden()

    await sign_in(dashboard, TOKEN)
    await expect(dashboard.locator("body")).to_have_attribute("data-state", "ready")
    await expect(dashboard.locator("[data-testid=kpi-in]")).to_have_text("280")
    analytics = [r for r in api.requests if r.path == "/api/whatsapp/analytics"][-1]
    assert analytics.headers["Authorization"] == f"Bearer {TOKEN}"
    since, until = (datetime.fromisoformat(analytics.query[key].replace("Z", "+00:00")) for key in ("since", "until"))
    assert until - since == timedelta(days=7)  # the default period
    assert [r.path for r in api.requests[-2:]] == ["/api/whatsapp/analytics", "/api/whatsapp/handoffs"]

    await dashboard.select_option("[data-testid=range]", "30")
    await until_true(lambda: len(api.requests) == 6)
    since, until = (datetime.fromisoformat(api.requests[-2].query[key].replace("Z", "+00:00")) for key in ("since", "until"))
    assert until - since == timedelta(days=30)
    await dashboard.click("[data-testid=sign-out]")
    await expect(dashboard.locator("[data-testid=signin]")).to_be_visible()
    assert await dashboard.evaluate("sessionStorage.length") == 0


@pytest.mark.asyncio
async def test_charts_and_waiting_handoffs_show_the_api_figures(dashboard: Page) -> None:
    """KPIs, the five charts and the handoff table show exactly what the API returned."""
    await sign_in(dashboard, TOKEN)
    await expect(dashboard.locator("body")).to_have_attribute("data-state", "ready")
    kpis = {name: await dashboard.locator(f"[data-testid=kpi-{name}]").inner_text()
            for name in ("in", "out", "users", "fallback", "handoffs", "latency")}
    assert kpis == {"in": "280", "out": "625", "users": "37", "fallback": "5.4%", "handoffs": "7",
                    "latency": "841 ms"}
    await expect(dashboard.locator("[data-testid=kpi-fallback-hint]")).to_have_text("15 of 278 turns")
    await expect(dashboard.locator("[data-testid=kpi-latency-hint]")).to_have_text("p90 1.9 s")

    messages = await chart_data(dashboard, "chart-messages")
    assert messages["labels"][0] == "Tue 18 Nov" and len(messages["labels"]) == 7
    assert messages["values"] == [[42, 55, 38, 61, 24, 12, 48], [97, 121, 80, 140, 51, 27, 109],
                                  [11, 14, 9, 17, 6, 4, 13]]
    intents = await chart_data(dashboard, "chart-intents")
    assert intents["labels"][:3] == ["greet", "track order", "menu orders"]
    assert intents["labels"][-1] == "3 others" and len(intents["labels"]) == 11
    assert intents["values"][0][:2] == [23.0, 18.7]
    await expect(dashboard.locator("[data-testid=numbers-note]")).to_contain_text("41")
    funnel = await chart_data(dashboard, "chart-funnel")
    assert funnel["labels"] == ["Main menu · 100%", "Sub-menu · 80%", "Answer · 60%"]
    assert funnel["values"] == [[30, 24, 18]]
    latency = await chart_data(dashboard, "chart-latency")
    assert latency["values"] == [[pytest.approx(0.8405), pytest.approx(1.93), pytest.approx(4.2102)]]
    delivery = await chart_data(dashboard, "chart-delivery")
    assert delivery["type"] == "doughnut"
    assert delivery["labels"] == ["Read (410)", "Delivered (160)", "Sent (45)", "Accepted by Meta (4)", "Failed (6)"]

    rows = dashboard.locator("[data-testid=handoff-row]")
    await expect(rows).to_have_count(2)
    await expect(dashboard.locator("[data-testid=handoff-count]")).to_have_text("2")
    await expect(rows.nth(0).locator("td")).to_have_text(["Priya Shah", "+91 98000 00009", "4 min", "0",
                                                          "I want to talk to a person"])
    await expect(rows.nth(1).locator("td.name")).to_have_text("Ravi KumarBharat Textiles")
    await expect(rows.nth(1).locator("td.waiting.long")).to_have_text("23 min")
    await expect(rows.nth(1).locator("td.count")).to_have_text("3")
    await expect(rows.nth(1).locator("td.last")).to_contain_text('<img src=x onerror="window.pwned=1">')
    assert await dashboard.locator("[data-testid=handoffs] img").count() == 0
    assert await dashboard.evaluate("window.pwned") is None

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await dashboard.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


@pytest.mark.asyncio
async def test_an_empty_period_and_no_waiting_handoffs_render_calmly(dashboard: Page, api: FakeManagementAPI) -> None:
    """With no traffic the KPIs read zero, latency shows a dash and the handoff list says nobody waits."""
    api.analytics = {
        "window": {"since": "2025-11-24T00:00:00Z", "until": "2025-11-25T00:00:00Z", "timezone": "Asia/Kolkata"},
        "messages": {"in": 0, "out": 0, "per_day": [{"day": "2025-11-24", "in": 0, "out": 0, "active_users": 0}]},
        "active_users": 0,
        "intents": {"user_turns": 0, "counts": [], "numbers": {"typed": 0, "resolved": 0, "unresolved": 0}},
        "fallback": {"turns": 0, "rate": 0.0, "nlu_fallback": 0, "action_default_fallback": 0},
        "funnel": [{"step": "main_menu", "users": 0}, {"step": "sub_menu", "users": 0}, {"step": "answer", "users": 0}],
        "handoffs": {"requests": 0, "users": 0},
        "latency_ms": {"samples": 0, "p50": None, "p90": None, "p99": None},
        "delivery": {},
    }
    api.handoffs = {"handoffs": []}
    await sign_in(dashboard, TOKEN)
    await expect(dashboard.locator("body")).to_have_attribute("data-state", "ready")
    await expect(dashboard.locator("[data-testid=kpi-in]")).to_have_text("0")
    await expect(dashboard.locator("[data-testid=kpi-latency]")).to_have_text("–")
    await expect(dashboard.locator("[data-testid=kpi-fallback]")).to_have_text("0.0%")
    await expect(dashboard.locator("[data-testid=handoffs-empty]")).to_be_visible()
    await expect(dashboard.locator("[data-testid=handoff-count]")).to_have_text("0")


@pytest.mark.asyncio
async def test_a_server_error_is_shown_and_the_token_kept(dashboard: Page, api: FakeManagementAPI) -> None:
    """A 500 from the API shows its error on the page without asking for the token again."""
    api.fail_analytics = True
    await sign_in(dashboard, TOKEN)
    await expect(dashboard.locator("body")).to_have_attribute("data-state", "error")
    await expect(dashboard.locator("[data-testid=status]")).to_contain_text("answered 500: database_unavailable")
    await expect(dashboard.locator("[data-testid=signin]")).to_be_hidden()
