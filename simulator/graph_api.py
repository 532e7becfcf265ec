"""A local stand-in for Meta's Graph API: /messages, media upload, lookup and download.

In tests: `async with FakeGraph() as graph:` then point the channel at `graph.graph_url`.
From a shell: `python -m simulator.graph_api --port 8081 --token T --phone-number-id P` (the same
routes are part of the simulator app, `python -m simulator`). Checks follow simulator/graph_rules.py;
errors use Meta's envelope; failure knobs live in simulator/graph_control.py. Binds 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import time
import uuid
from typing import Any

from aiohttp import web

from simulator.graph_control import add_control_routes
from simulator.graph_rules import error_body, http_status_for, validate_message, validate_upload
from simulator.graph_state import (DEFAULT_PHONE_NUMBER_ID, DEFAULT_TOKEN, DEFAULT_VERSION, HANG, STATE,
                                   GraphState, Record, SizedMedia, digits, next_fault)

_VERSION = r"{version:v\d+\.\d+}"
MAX_UPLOAD_BYTES = 101 * 1024 * 1024  # Meta's 100 MB document cap, plus the multipart envelope


def make_app(token: str, phone_number_id: str, version: str = DEFAULT_VERSION) -> web.Application:
    """Build the stand-in application for one access token and one business number."""
    app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
    add_graph_routes(app, GraphState(token, phone_number_id, version))
    add_control_routes(app)
    return app


def add_graph_routes(app: web.Application, state: GraphState) -> None:
    """Serve Meta's routes (messages, media) from app, remembering everything in state."""
    app[STATE] = state
    app.router.add_get("/media/{media_id}", _media_bytes)
    app.router.add_post(f"/{_VERSION}/{{phone_number_id}}/messages", _messages)
    app.router.add_post(f"/{_VERSION}/{{phone_number_id}}/media", _upload)
    app.router.add_get(f"/{_VERSION}/{{media_id}}", _media_info)


async def _messages(request: web.Request) -> web.Response:
    """Send a message, or mark one read, checking it as Meta would."""
    state, record = await _begin(request)
    body = record.body
    is_send = isinstance(body, dict) and "status" not in body
    failure = await _precheck(request, state, record, is_send)
    if failure is not None:
        return failure
    if request.match_info["phone_number_id"] != state.phone_number_id:
        return _fail(record, 100, "Unsupported post request: unknown phone number id.", subcode=33)
    rejection = validate_message(body)
    if rejection is not None:
        return _fail(record, rejection.code, rejection.details)
    if not is_send:
        return _answer(record, {"success": True}, notify=state)
    to = digits(body.get("to") or body.get("recipient"))
    if to in state.closed_windows and body.get("type") != "template":
        return _fail(record, 131047, "Message failed to send because more than 24 hours have passed "
                                     "since the customer last replied to this number.")
    raw_id = f"{to}:{next(state.counter)}:{uuid.uuid4().hex}".encode()
    wamid = "wamid." + base64.b64encode(raw_id).decode()
    return _answer(record, {"messaging_product": "whatsapp",
                            "contacts": [{"input": body.get("to") or body.get("recipient"), "wa_id": to}],
                            "messages": [{"id": wamid}]}, notify=state)


async def _media_info(request: web.Request) -> web.Response:
    """Describe an uploaded media id, with a download URL pointing back at this server."""
    state, record = await _begin(request)
    failure = await _precheck(request, state, record, False)
    if failure is not None:
        return failure
    media_id = request.match_info["media_id"]
    sized = state.sized_media.get(media_id)
    if sized is not None:
        info = {"messaging_product": "whatsapp", "url": f"{request.scheme}://{request.host}/media/{media_id}",
                "mime_type": sized.mime_type, "id": media_id}
        if sized.announce_size:
            info["file_size"] = str(sized.size)
        return _answer(record, info)
    if media_id not in state.media:
        return _fail(record, 100, f"Unsupported get request. Object with ID '{media_id}' does not exist.", 33)
    data, mime_type = state.media[media_id]
    return _answer(record, {
        "messaging_product": "whatsapp", "url": f"{request.scheme}://{request.host}/media/{media_id}",
        "mime_type": mime_type, "sha256": hashlib.sha256(data).hexdigest(), "file_size": str(len(data)),
        "id": media_id,
    })


async def _media_bytes(request: web.Request) -> web.StreamResponse:
    """Return media bytes; like Meta's lookaside host it needs the Bearer token."""
    state, record = await _begin(request)
    failure = await _precheck(request, state, record, False)
    if failure is not None:
        return failure
    sized = state.sized_media.get(request.match_info["media_id"])
    if sized is not None:
        record.status = 200
        return await _stream_sized(request, sized)
    media = state.media.get(request.match_info["media_id"])
    if media is None:
        record.status = 404
        return web.Response(status=404, text="Not Found")
    record.status = 200
    return web.Response(body=media[0], headers={"Content-Type": media[1]})  # may carry "; codecs=..."


_PATTERN = bytes(range(256)) * 256  # 64 KB of filler


async def _stream_sized(request: web.Request, sized: SizedMedia) -> web.StreamResponse:
    """Stream generated bytes of the given size, 64 KB at a time; a client may hang up early."""
    response = web.StreamResponse(headers={"Content-Type": sized.mime_type})
    if sized.send_length:
        response.content_length = sized.size
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    left = sized.size
    try:
        while left > 0:
            chunk = _PATTERN[:min(left, len(_PATTERN))]
            await response.write(chunk)
            left -= len(chunk)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client stopped reading (a download over its limit)
    return response


async def _upload(request: web.Request) -> web.Response:
    """Store a multipart upload (messaging_product, type, file) as Meta does and return its new media id.

    The type must be one Meta takes and the file within that type's cap; the record keeps the form
    fields and the file's name, type and size (not its bytes) so tests can count uploads.
    """
    state, record = await _begin(request)
    failure = await _precheck(request, state, record, False)
    if failure is not None:
        return failure
    if request.match_info["phone_number_id"] != state.phone_number_id:
        return _fail(record, 100, "Unsupported post request: unknown phone number id.", subcode=33)
    if not request.content_type.startswith("multipart/"):
        return _fail(record, 100, "Upload must be multipart/form-data.")
    form = await request.post()
    upload = form.get("file")
    data = upload.file.read() if isinstance(upload, web.FileField) else b""
    mime_type = form.get("type")
    record.body = {"messaging_product": form.get("messaging_product"), "type": mime_type,
                   "file": {"filename": upload.filename, "content_type": upload.content_type, "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest()} if isinstance(upload, web.FileField) else None}
    rejection = validate_upload(form.get("messaging_product"), mime_type, isinstance(upload, web.FileField), len(data))
    if rejection is not None:
        return _fail(record, rejection.code, rejection.details)
    media_id = state.new_media_id()
    state.media[media_id] = (data, str(mime_type))
    return _answer(record, {"id": media_id})


async def _begin(request: web.Request) -> tuple[GraphState, Record]:
    """Record the request (JSON body when there is one) before anything can fail."""
    state = request.app[STATE]
    body: Any = None
    if request.can_read_body and not request.content_type.startswith("multipart/"):
        text = await request.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = text[:2000]  # kept for the record; /messages answers 100 below
    record = Record(time.time(), request.method, request.path, dict(request.headers), body)
    state.records.append(record)
    return state, record


async def _precheck(
    request: web.Request, state: GraphState, record: Record, is_send: bool
) -> web.Response | None:
    """Apply latency, the Bearer check and injected faults; return a response to stop early."""
    knobs = state.knobs
    if knobs.latency_ms:
        await asyncio.sleep(knobs.latency_ms / 1000)
    if request.headers.get("Authorization") != f"Bearer {state.token}":
        return _fail(record, 190, "", status=401)
    fault = next_fault(state) if (is_send or knobs.scope == "all") else None
    if fault is HANG:
        await asyncio.sleep(knobs.hang_seconds)
        return _fail(record, 2, "Injected hang.", status=504)
    if fault is not None:
        status, code = fault
        return _fail(record, code, "Injected failure.", status=status)
    if request.path.endswith("/messages") and not isinstance(record.body, dict):
        return _fail(record, 100, "The request body must be a JSON object.")
    return None


def _fail(
    record: Record, code: int, details: str, subcode: int | None = None, status: int = 0
) -> web.Response:
    """Answer with Meta's error envelope and record the outcome."""
    record.status = status or http_status_for(code)
    record.response = error_body(code, details, subcode)
    return web.json_response(record.response, status=record.status)


def _answer(record: Record, payload: dict[str, Any], notify: GraphState | None = None) -> web.Response:
    """Answer 200 with payload, record it, and tell state's listeners when notify is given."""
    record.status, record.response = 200, payload
    if notify is not None:
        notify.notify(record)
    return web.json_response(payload)


class FakeGraph:
    """Run the fake in-process on 127.0.0.1 (a free port) and drive it from a test."""

    def __init__(self, token: str = DEFAULT_TOKEN, phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
                 version: str = DEFAULT_VERSION) -> None:
        self.app = make_app(token, phone_number_id, version)
        self.state = self.app[STATE]
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> FakeGraph:
        """Start serving; the port is chosen by the OS."""
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGraph:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """Return the server root, e.g. http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def graph_url(self) -> str:
        """Return the Graph base a client should use, e.g. http://127.0.0.1:PORT/v25.0."""
        return f"{self.base_url}/{self.state.version}"

    @property
    def requests(self) -> list[Record]:
        """Return every request received so far, accepted and rejected."""
        return list(self.state.records)

    def sent_to(self, wa_id: str) -> list[dict[str, Any]]:
        """Return the messages accepted for this user so far, in order."""
        return self.state.sent(wa_id)

    async def messages_to(self, wa_id: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least count messages were accepted for this user (or timeout), then return all."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.state.sent(wa_id)) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        return self.state.sent(wa_id)

    def fail_next(self, n: int, code: int | None = None, status: int = 500, scope: str = "send") -> None:
        """Fail the next n calls with a Meta code (its usual HTTP status) or with HTTP status."""
        knobs = self.state.knobs
        knobs.fail_next, knobs.fail_code, knobs.fail_status, knobs.scope = n, code, status, scope

    def fail_rate(self, p: float, seed: int | None = None) -> None:
        """Fail a fraction p of calls with a mix of HTTP 500/503 and 130429."""
        self.state.knobs.fail_rate = p
        self.state.rng.seed(seed)

    def set_latency(self, ms: int) -> None:
        """Delay every Graph call by ms milliseconds."""
        self.state.knobs.latency_ms = ms

    def hang_next(self, n: int, seconds: float = 30.0) -> None:
        """Make the next n calls sleep longer than a client timeout, then fail."""
        self.state.knobs.hang_next, self.state.knobs.hang_seconds = n, seconds

    def close_window(self, *wa_ids: str) -> None:
        """Make free-form sends to these users fail with 131047 until reset."""
        self.state.closed_windows.update(digits(w) for w in wa_ids)

    def add_media(self, media_id: str, data: bytes, mime_type: str) -> None:
        """Make a media id downloadable."""
        self.state.media[media_id] = (data, mime_type)

    def add_sized_media(self, media_id: str, size: int, mime_type: str, announce_size: bool = True,
                        send_length: bool = True) -> None:
        """Make a media id of size bytes downloadable (generated, not held); the size may be left unsaid."""
        self.state.sized_media[media_id] = SizedMedia(size, mime_type, announce_size, send_length)

    def uploads(self) -> list[Record]:
        """Return the accepted media uploads so far (their form fields and file name, type, size)."""
        return [r for r in self.state.records
                if r.method == "POST" and r.path.endswith("/media") and r.status == 200]

    def media_requests(self, media_id: str) -> list[Record]:
        """Return the lookups and downloads of one media id so far."""
        return [r for r in self.state.records
                if r.method == "GET" and r.path in (f"/{self.state.version}/{media_id}", f"/media/{media_id}")]

    def reset(self) -> None:
        """Forget requests, knobs, closed windows and media."""
        self.state.reset()


def main(argv: list[str] | None = None, prog: str = "python -m simulator.graph_api") -> None:
    """Serve the stand-in on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", required=True, help="the access token clients must send as Bearer")
    parser.add_argument("--phone-number-id", required=True, help="the only business number accepted")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="version shown in graph URLs")
    args = parser.parse_args(argv)
    app = make_app(args.token, args.phone_number_id, args.version)
    web.run_app(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
