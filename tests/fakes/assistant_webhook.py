"""A tiny stand-in for the channel's webhook, so simulator tests need no Rasa.

It checks X-Hub-Signature-256 with the channel's own verify_signature, records each delivery, acks
200, then answers like the channel would, through the Graph API's /messages (Bearer token):
"hi" gets a 5-row list, a row tap gets 3 reply buttons, a button tap and any other text get a text
using *bold*, a photo is downloaded through the media lookup and acknowledged. "please fail" is
answered 500 with no reply.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

import aiohttp
from aiohttp import web

from connectors.whatsapp.security import SIGNATURE_HEADER, verify_signature

MENU_ROWS = [("menu_orders", "Check Order Status", "Where your order is"),
             ("menu_defects", "Report Defect", "Tell us what went wrong"),
             ("menu_schedule", "Production Schedule", "What is being made"),
             ("menu_help", "Help & Support", "Hours, phone and email"),
             ("menu_back", "Back to Menu", None)]
NEXT_BUTTONS = [("order_track", "Track order"), ("order_defect", "Report a defect"), ("menu_main", "Main menu")]


class FakeAssistant:
    """Serve POST /webhook on 127.0.0.1 and reply through a Graph API at graph_url."""

    def __init__(self, app_secret: str, token: str, phone_number_id: str, version: str = "v25.0") -> None:
        self.app_secret = app_secret
        self.token = token
        self.phone_number_id = phone_number_id
        self.version = version
        self.graph_url = ""  # the simulator's root, set once it is listening
        self.deliveries: list[dict[str, Any]] = []  # every accepted delivery, parsed
        self.rejected: list[int] = []  # statuses answered to bad signatures
        self.media: dict[str, bytes] = {}  # media id -> bytes downloaded through the Graph media path
        self._runner: Optional[web.AppRunner] = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: Optional[aiohttp.ClientSession] = None
        self.port = 0

    @property
    def webhook_url(self) -> str:
        """Return the URL the simulator posts deliveries to."""
        return f"http://127.0.0.1:{self.port}/webhook"

    def messages(self) -> list[dict[str, Any]]:
        """Return every inbound message received, in order."""
        return [m for d in self.deliveries for e in d["entry"] for c in e["changes"]
                for m in c["value"].get("messages", [])]

    def statuses(self) -> list[dict[str, Any]]:
        """Return every status received, in order."""
        return [s for d in self.deliveries for e in d["entry"] for c in e["changes"]
                for s in c["value"].get("statuses", [])]

    async def start(self) -> FakeAssistant:
        """Start serving on a free port."""
        app = web.Application()
        app.router.add_post("/webhook", self._webhook)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def close(self) -> None:
        """Stop replying and serving."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _webhook(self, request: web.Request) -> web.Response:
        """Verify, record, ack; reply afterwards."""
        body = await request.read()
        header = request.headers.get(SIGNATURE_HEADER)
        if not verify_signature(self.app_secret, body, header):
            self.rejected.append(401 if header is None else 403)
            return web.json_response({"error": "invalid_signature"}, status=401 if header is None else 403)
        delivery = json.loads(body)
        self.deliveries.append(delivery)
        for entry in delivery["entry"]:
            for change in entry["changes"]:
                for message in change["value"].get("messages", []):
                    if message.get("text", {}).get("body") == "please fail":
                        return web.json_response({"error": "boom"}, status=500)
                    task = asyncio.get_running_loop().create_task(self._reply(message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        return web.json_response({"status": "ok"})

    async def _reply(self, message: dict[str, Any]) -> None:
        """Mark read with typing, then answer the message the way the channel would."""
        wa_id = message["from"]
        await self._graph("POST", "messages", {"messaging_product": "whatsapp", "status": "read",
                                               "message_id": message["id"], "typing_indicator": {"type": "text"}})
        kind = message["type"]
        interactive = message.get("interactive", {})
        if kind == "text" and message["text"]["body"].strip().lower() == "hi":
            await self._send(wa_id, "interactive", menu_list())
        elif interactive.get("type") == "list_reply":
            title = interactive["list_reply"]["title"]
            await self._send(wa_id, "interactive", next_buttons(title))
        elif interactive.get("type") == "button_reply":
            reply = interactive["button_reply"]
            await self._send(wa_id, "text", {"body": f"Done: *{reply['title']}* ({reply['id']})"})
        elif kind == "image":
            image = message["image"]
            info = await self._graph("GET", image["id"])
            async with self._session.get(info["url"], headers=self._auth()) as response:
                self.media[image["id"]] = await response.read()
            size = len(self.media[image["id"]])
            await self._send(wa_id, "text", {"body": f"Got your photo ({size} bytes): _{image.get('caption', '')}_"})
        elif kind == "text":
            await self._send(wa_id, "text", {"body": f"You said: *{message['text']['body']}*\n~old~ ```x<y```"})

    async def _send(self, wa_id: str, kind: str, obj: dict[str, Any]) -> None:
        """POST one message to the Graph API."""
        await self._graph("POST", f"{self.phone_number_id}/messages", {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": f"+{wa_id}", "type": kind,
            kind: obj})

    async def _graph(self, method: str, path: str, body: Optional[dict[str, Any]] = None) -> Any:
        """Call the Graph API and return its JSON; fail loudly on anything but 200."""
        if path == "messages":
            path = f"{self.phone_number_id}/messages"
        url = f"{self.graph_url}/{self.version}/{path}"
        async with self._session.request(method, url, json=body, headers=self._auth()) as response:
            answer = await response.json()
            assert response.status == 200, answer
            return answer

    def _auth(self) -> dict[str, str]:
        """Return the Bearer header."""
        return {"Authorization": f"Bearer {self.token}"}


def menu_list() -> dict[str, Any]:
    """Return the main menu as a list message with five rows."""
    rows = [{"id": i, "title": t, **({"description": d} if d else {})} for i, t, d in MENU_ROWS]
    return {"type": "list", "header": {"type": "text", "text": "Main menu"},
            "body": {"text": "What would you like to do? Tap *Choose* or type a number."},
            "footer": {"text": "ACME Manufacturing"},
            "action": {"button": "Choose", "sections": [{"title": "Menu", "rows": rows}]}}


def next_buttons(title: str) -> dict[str, Any]:
    """Return three reply buttons following a menu choice."""
    return {"type": "button", "body": {"text": f"You chose *{title}*. What next?"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in NEXT_BUTTONS]}}
