"""Rasa input/output channel for the WhatsApp Cloud API.

The webhook verifies, stores and acknowledges; the ingress writer hands the new messages' senders
to worker.py, where Rasa runs (on a thread of its own, so a busy assistant never slows the
acknowledgement) and the message is marked read, and replies go out through the outbox in sender.py.
Served by `rasa run` at /webhooks/whatsapp/webhook.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Sequence, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, Sanic, response
from sanic.exceptions import PayloadTooLarge
from sanic.log import access_logger
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_cors.core import SANIC_CORS_EVALUATED
from sqlalchemy.exc import SQLAlchemyError

from connectors import rasa_speedups
from connectors.whatsapp import outbox
from connectors.whatsapp.background import Leases, LoopThread, cancel_all, freeze_heap_once, log_failure, new_owner
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.graph import GraphClient
from connectors.whatsapp.ingress import IngressWriter
from connectors.whatsapp.outbox import OutboxItem
from connectors.whatsapp.render import render_response
from connectors.whatsapp.retention import RetentionJob
from connectors.whatsapp.security import SIGNATURE_HEADER, verify_challenge, verify_signature
from connectors.whatsapp.sender import OutboxSender, reengagement_payload
from connectors.whatsapp.updates import parse_delivery
from connectors.whatsapp.worker import InboundWorker

logger = logging.getLogger(__name__)

GIL_SWITCH_SECONDS = 0.001
MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's webhook payload limit; also the server's REQUEST_MAX_SIZE


class WhatsAppOutput(OutputChannel):
    """Enqueue replies as outbox rows (or collect a turn's, for the worker to record with its outcome)."""

    @classmethod
    def name(cls) -> Text:
        """Return the channel name."""
        return "whatsapp"

    def __init__(self, wa_id: Optional[str], inbound_wamid: Optional[str], kind: str = "reply",
                 first_seq: int = 0) -> None:
        self.wa_id = wa_id
        # Replies not caused by an inbound message (Rasa API, reminders) get a key of their own.
        self.key = inbound_wamid or f"out:{uuid.uuid4().hex}"
        self.kind = kind
        self._seq = first_seq  # a fixed answer outside the turn's 0, 1, ... (the give-up apology)
        self._collected: Optional[list[OutboxItem]] = None

    def collect(self, into: list[OutboxItem]) -> None:
        """Append replies to into instead of enqueuing them (written with the turn's outcome)."""
        self._collected = into

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """Render one whole Rasa response (text, buttons, image, custom) and enqueue its bodies."""
        wa_id = self.wa_id or recipient_id
        rendered = render_response(wa_id, message)
        if rendered.skipped:
            logger.info("whatsapp.render.skipped parts=%s", ",".join(rendered.skipped))
        items = [OutboxItem(wa_id, self.key, self._seq + n, self.kind, payload)
                 for n, payload in enumerate(rendered.payloads)]
        self._seq += len(items)
        if self._collected is not None:
            self._collected.extend(items)
        elif items:
            await asyncio.to_thread(outbox.enqueue, items)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Enqueue a plain text."""
        await self.send_response(recipient_id, {"text": text})


class WhatsAppInput(InputChannel):
    """Receive WhatsApp Cloud API webhooks."""

    @classmethod
    def name(cls) -> Text:
        """Return the channel name (and URL prefix)."""
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """Build the channel from WHATSAPP_* variables; the credentials block may be empty."""
        return cls(WhatsAppConfig.from_env(overrides=credentials))

    def __init__(self, config: WhatsAppConfig) -> None:
        """Args:
            config: settings from the environment (WhatsAppConfig.from_env), secrets included.
        """
        rasa_speedups.install()  # this process runs Rasa's turns: check action replies without re-checking the schema
        self.config = config
        self.graph = GraphClient(config)  # the webhook's and the sender's, on Sanic's loop
        self.inbound: Optional[InboundWorker] = None
        self.sender: Optional[OutboxSender] = None
        self._tasks: list[asyncio.Task] = []
        self._turns: Optional[LoopThread] = None
        self._unsubscribe: Callable[[], None] = lambda: None
        self._ingress = IngressWriter(config.phone_number_id, self._reengagement, on_saved=self._hand_over)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Return the webhook routes and the listeners that run the background workers."""
        whatsapp_webhook = Blueprint("whatsapp_webhook", __name__)

        @whatsapp_webhook.listener("before_server_start")
        async def tune_server(app: Sanic, _loop: Any) -> None:
            # Sanic reads up to REQUEST_MAX_SIZE (100 MB by default) before any handler runs; with
            # this, a larger body is refused (413) from its Content-Length without being read.
            app.config.REQUEST_MAX_SIZE = min(app.config.REQUEST_MAX_SIZE, MAX_BODY_BYTES)
            if not access_logger.isEnabledFor(logging.INFO):
                # Rasa sets Sanic's access logger to LOG_LEVEL_LIBRARIES (ERROR by default) but leaves
                # ACCESS_LOG on, so every request built an access line nobody writes.
                app.config.ACCESS_LOG = False

        @whatsapp_webhook.exception(PayloadTooLarge)
        async def too_large(_request: Request, _exc: Exception) -> HTTPResponse:
            return _rejected("payload_too_large", 413)

        @whatsapp_webhook.listener("after_server_start")
        async def start_workers(app: Sanic, _loop: Any) -> None:
            await self.start(on_new_message, app)

        @whatsapp_webhook.listener("before_server_stop")
        async def stop_workers(_app: Sanic, _loop: Any) -> None:
            await self.stop()

        @whatsapp_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @whatsapp_webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            challenge = verify_challenge(request.args, self.config.webhook_verify_token)
            if challenge is None:
                logger.warning("whatsapp.webhook.verify_rejected")
                return response.json({"error": "invalid_verify_token"}, status=403)
            return response.text(challenge, content_type="text/plain")

        @whatsapp_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self.receive(request)

        return whatsapp_webhook

    async def receive(self, request: Request) -> HTTPResponse:
        """Check, parse and store one delivery, then acknowledge it; Rasa runs later."""
        # Meta calls from its servers, no browser reads the answer: skip Rasa's CORS headers.
        setattr(request.ctx, SANIC_CORS_EVALUATED, "1")
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            return _rejected("payload_too_large", 413)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return _rejected("missing_signature", 401)
        if not verify_signature(self.config.app_secret, body, signature):
            return _rejected("invalid_signature", 403)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            return _rejected("invalid_json", 400)
        try:
            delivery = parse_delivery(data)
        except (ValueError, RecursionError):
            return _rejected("invalid_body", 400)
        try:
            saved = await self._ingress.save(body, delivery)
        except SQLAlchemyError as exc:
            log_failure("whatsapp.webhook.store_failed", exc, logging.ERROR)
            return response.json({"error": "store_unavailable"}, status=503)  # Meta retries it
        logger.debug("whatsapp.webhook.accepted new=%s duplicates=%s statuses=%s other_numbers=%s "
                     "skipped=%s templates=%s", saved.new_messages, saved.duplicates, saved.statuses,
                     saved.other_numbers, delivery.skipped, saved.templates)
        for error in delivery.errors:
            logger.warning("whatsapp.webhook.error code=%s title=%s", error.code, error.title)
        return response.json({"status": "ok"})

    def _reengagement(self, wa_id: str) -> Optional[Dict[str, Any]]:
        """Return the re-engagement template body for wa_id, if one is configured."""
        return reengagement_payload(self.config, wa_id)

    async def start(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], app: Sanic) -> None:
        """Start the inbound worker, the outbox sender, the lease heartbeat and the retention job."""
        freeze_heap_once()
        leases = Leases(new_owner())

        async def tracker_of(sender_id: str) -> Optional[DialogueStateTracker]:
            agent = getattr(app.ctx, "agent", None)
            if agent is None or agent.tracker_store is None:
                return None
            return await agent.tracker_store.retrieve_full_tracker(sender_id)

        def ready() -> bool:
            agent = getattr(app.ctx, "agent", None)
            return agent is None or agent.is_ready()  # no agent at all: a bare app in tests

        self.sender = OutboxSender(self.config, self.graph, leases)
        # The worker's own Graph client: an aiohttp session belongs to the loop that made it.
        self.inbound = InboundWorker(self.config, GraphClient(self.config), leases, on_new_message,
                                     self._output, tracker_of, ready, self.sender.hand)
        self._unsubscribe = outbox.subscribe(self.sender.notify)  # turns, templates, the management API
        self._tasks = [asyncio.create_task(self.sender.run()), asyncio.create_task(leases.beat_forever()),
                       asyncio.create_task(RetentionJob(self.config).run())]
        if self.config.turns_in_thread:
            # A thread waiting for the GIL gets it after this long: the webhook's answer then waits
            # about 1 ms per handover behind a busy turn instead of Python's default 5 ms.
            sys.setswitchinterval(GIL_SWITCH_SECONDS)
            self._turns = LoopThread("whatsapp-turns").start()
            self._tasks.append(asyncio.ensure_future(self._turns.run(self.inbound.run())))
        else:
            self._tasks.append(asyncio.create_task(self.inbound.run()))
        logger.info("whatsapp.workers.started turns_in_thread=%s", self.config.turns_in_thread)

    async def stop(self) -> None:
        """Let running turns and sends finish briefly, cancel the rest, close the HTTP sessions."""
        self._unsubscribe()
        # Turns first, then the sender: replies a finishing turn hands over are then sent or put back.
        if self.inbound is not None:
            await asyncio.gather(self._on_turns(self.inbound.stop()), return_exceptions=True)
        if self.sender is not None:
            await asyncio.gather(self.sender.stop(), return_exceptions=True)
            await asyncio.gather(self.sender.pacer.close(), return_exceptions=True)
        await cancel_all(self._tasks)
        if self.inbound is not None:
            await asyncio.gather(self._on_turns(self.inbound.graph.close()), return_exceptions=True)
        if self._turns is not None:
            await asyncio.to_thread(self._turns.stop)
            self._turns = None
        await self.graph.close()
        await asyncio.to_thread(self._ingress.close)
        logger.info("whatsapp.workers.stopped")

    async def _on_turns(self, coro: Awaitable[Any]) -> Any:
        """Run coro where the inbound worker runs (its thread, or this loop)."""
        if self._turns is None:
            return await coro
        return await self._turns.run(coro)  # type: ignore[arg-type]

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Return an output channel for messages Rasa sends on its own (API, reminders)."""
        return WhatsAppOutput(None, None)

    def _output(self, wa_id: str, inbound_wamid: str, kind: str, first_seq: int = 0) -> OutputChannel:
        """Return the output channel for one inbound message's turn."""
        return WhatsAppOutput(wa_id, inbound_wamid, kind, first_seq=first_seq)

    def _hand_over(self, senders: Sequence[str]) -> None:
        """Give the worker the senders whose new messages were just committed (ingress thread)."""
        if self.inbound is not None:
            self.inbound.notify(senders)


def _rejected(code: str, status: int) -> HTTPResponse:
    """Answer a refused webhook with a stable error code; nothing was stored."""
    logger.warning("whatsapp.webhook.rejected reason=%s", code)
    return response.json({"error": code}, status=status)
