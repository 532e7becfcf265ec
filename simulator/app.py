"""The simulator app: Meta's Graph API stand-in and the WhatsApp chat page, in one aiohttp app.

The channel sends to the stand-in (WHATSAPP_GRAPH_API_URL = this app's root); every message the
stand-in accepts lands in the recipient's chat and gets status webhooks. What the page's user
does becomes a signed webhook delivery to the assistant, as Meta would post it.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

from aiohttp import web

from simulator import deliveries, page_api
from simulator.chats import ChatBook, ChatItem
from simulator.graph_api import add_graph_routes
from simulator.graph_control import add_control_routes
from simulator.graph_state import GraphState, Record, digits
from simulator.relay import StatusTicker, WebhookRelay
from simulator.settings import Settings

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 20 * 1024 * 1024  # photos from the page, media uploads from the channel

BuildMessage = Callable[[str, int], dict[str, Any]]  # (wamid, unix timestamp) -> webhook message


class Simulator:
    """The phones' side: chats per number, webhooks to the assistant, statuses back."""

    def __init__(self, settings: Settings, graph: GraphState, sent_after: float = 0.1,
                 delivered_after: float = 0.3) -> None:
        self.settings = settings
        self.business = settings.business
        self.graph = graph
        self.chats = ChatBook()
        self.relay = WebhookRelay(settings.rasa_webhook, settings.app_secret)
        self.ticker = StatusTicker(self.relay, self.business, self.chats, sent_after, delivered_after)
        graph.listeners.append(self.on_graph_call)

    def on_graph_call(self, record: Record) -> None:
        """Show what the stand-in accepted: a business message, or a read receipt with typing."""
        body = record.body
        if "status" in body:
            self.chats.mark_read_by_business(str(body.get("message_id")), typing="typing_indicator" in body)
            return
        wamid = record.response["messages"][0]["id"]
        to = digits(body.get("to") or body.get("recipient"))
        self.chats.add(to, ChatItem(wamid, "business", record.time, body, "accepted"))
        self.ticker.track(wamid, to, body.get("biz_opaque_callback_data"))

    async def send_from_user(self, wa_id: str, build: BuildMessage) -> ChatItem:
        """Show the user's message, post it as a signed delivery, and record how it went."""
        wamid, now = deliveries.new_wamid(), time.time()
        message = build(wamid, int(now))
        item = self.chats.add(wa_id, ChatItem(wamid, "user", now, message, "pending"))
        delivery = deliveries.message_delivery(self.business, wa_id, self.settings.profile_name(wa_id), message)
        outcome = await self.relay.post(delivery)
        if outcome.ok:
            self.chats.advance(wamid, "delivered")
        else:
            logger.warning("simulator.webhook.rejected wamid=%s http=%s", wamid, outcome.status)
            self.chats.advance(wamid, "error", outcome.describe())
        return item

    def business_message(self, wa_id: str, wamid: str) -> Optional[ChatItem]:
        """Return the business message wamid if it is in wa_id's chat (what a tap may refer to)."""
        item = self.chats.find(wamid)
        in_chat = item is not None and item.side == "business" and item in self.chats.chat(wa_id).items
        return item if in_chat else None

    def store_media(self, data: bytes, mime_type: str) -> str:
        """Keep uploaded bytes in the stand-in's media store; return the new media id."""
        media_id = self.graph.new_media_id()
        self.graph.media[media_id] = (data, mime_type)
        return media_id

    def displayed(self, wa_id: str, wamids: list[str]) -> None:
        """The page showed these business messages of wa_id's chat."""
        for wamid in wamids:
            if self.business_message(wa_id, wamid) is not None:
                self.ticker.displayed(wamid)

    async def close(self) -> None:
        """Stop statuses and close the HTTP session."""
        await self.ticker.close()
        await self.relay.close()


def make_app(settings: Settings, sent_after: float = 0.1, delivered_after: float = 0.3) -> web.Application:
    """Build the app: Graph routes (and /_test knobs), the page, and its backend under /sim/."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    graph = GraphState(settings.api_token, settings.phone_number_id, settings.api_version)
    add_graph_routes(app, graph)
    add_control_routes(app)
    simulator = Simulator(settings, graph, sent_after, delivered_after)
    app[page_api.SIMULATOR] = simulator
    page_api.add_page_routes(app)

    async def close_simulator(_: web.Application) -> None:
        await simulator.close()

    app.on_cleanup.append(close_simulator)
    return app
