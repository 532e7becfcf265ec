"""The chat page and its backend: what the phone's user does, and what the phone shows.

GET  /                                 the page (static files under /static/)
GET  /sim/api/config                   business name and demo numbers
GET  /sim/api/chats/{wa_id}?since=N    bubbles changed after version N (waits up to `wait` s)
POST /sim/api/chats/{wa_id}/messages   {"kind": "text" | "button_reply" | "list_reply" | "button", ...}
POST /sim/api/chats/{wa_id}/photos     multipart: file (JPEG or PNG), caption
POST /sim/api/chats/{wa_id}/read       {"wamids": [...]}: the page showed these business messages
GET  /sim/media/{media_id}             media bytes for the page (the Graph route needs the token)
Errors are JSON: {"error": "<snake_case_code>", "message": "..."}.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from simulator import deliveries

if TYPE_CHECKING:
    from simulator.app import Simulator

STATIC_DIR = Path(__file__).parent / "static"
SIMULATOR: web.AppKey[Simulator] = web.AppKey("simulator")
PHOTO_TYPES = ("image/jpeg", "image/png")  # what Meta delivers as `image`
MAX_PHOTO_BYTES = 5 * 1024 * 1024  # Meta's image limit
MAX_WAIT_SECONDS = 25.0
_NO_CACHE = {"Cache-Control": "no-cache"}
_WA_ID = r"{wa_id:\d{6,15}}"


def add_page_routes(app: web.Application) -> None:
    """Serve the page, its static files and its backend from app (which holds SIMULATOR)."""
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    app.router.add_get("/sim/api/config", _config)
    app.router.add_get(f"/sim/api/chats/{_WA_ID}", _changes)
    app.router.add_post(f"/sim/api/chats/{_WA_ID}/messages", _send)
    app.router.add_post(f"/sim/api/chats/{_WA_ID}/photos", _send_photo)
    app.router.add_post(f"/sim/api/chats/{_WA_ID}/read", _read)
    app.router.add_get(r"/sim/media/{media_id:\d+}", _media)
    app.on_shutdown.append(_wake_waiters)


async def _index(request: web.Request) -> web.FileResponse:
    """Serve the chat page."""
    return web.FileResponse(STATIC_DIR / "index.html", headers=_NO_CACHE)


async def _config(request: web.Request) -> web.Response:
    """Describe the business and the numbers the page can act as."""
    settings = request.app[SIMULATOR].settings
    return web.json_response({
        "business_name": settings.business_name,
        "display_phone_number": settings.display_phone_number,
        "numbers": [number.to_dict() for number in settings.numbers],
        "webhook_url": settings.rasa_webhook,
        "api_version": settings.api_version,
    })


async def _changes(request: web.Request) -> web.Response:
    """Return a chat's bubbles changed after `since`, waiting for a change up to `wait` seconds."""
    try:
        since = int(request.query.get("since", "0"))
        wait = min(float(request.query.get("wait", "0")), MAX_WAIT_SECONDS)
    except ValueError:
        return _error(400, "invalid_query", "since must be an integer and wait a number of seconds.")
    chats = request.app[SIMULATOR].chats
    changes = await chats.wait_for_changes(request.match_info["wa_id"], since, max(wait, 0.0))
    return web.json_response(changes, headers=_NO_CACHE)


async def _send(request: web.Request) -> web.Response:
    """Send what the user typed or tapped to the assistant as a signed webhook delivery."""
    simulator = request.app[SIMULATOR]
    wa_id = request.match_info["wa_id"]
    try:
        sent = await request.json()
    except ValueError:
        return _error(400, "invalid_body", "The body must be JSON.")
    if not isinstance(sent, dict):
        return _error(400, "invalid_body", "The body must be a JSON object.")
    kind = sent.get("kind")
    if kind == "text":
        text = sent.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > 4096:
            return _error(400, "invalid_text", "Type 1 to 4096 characters.")
        build = partial(_text, wa_id, text)
    elif kind in ("button_reply", "list_reply", "button"):
        tapped = simulator.business_message(wa_id, str(sent.get("context_id")))
        if tapped is None:
            return _error(400, "unknown_context", "context_id must be a business message of this chat.")
        fields = [sent.get(key) for key in ("id", "title")]
        if not all(isinstance(value, str) and value for value in fields):
            return _error(400, "invalid_tap", "A tap needs the option's id and title.")
        context = deliveries.context_of(simulator.business, tapped.wamid)
        description = sent.get("description") if isinstance(sent.get("description"), str) else None
        build = partial(_tap, kind, wa_id, context, fields[0], fields[1], description)
    else:
        return _error(400, "invalid_kind", "kind must be text, button_reply, list_reply or button.")
    item = await simulator.send_from_user(wa_id, build)
    return web.json_response({"item": item.to_dict()})


async def _send_photo(request: web.Request) -> web.Response:
    """Store an uploaded photo in the stand-in's media store and send it as an image message."""
    simulator = request.app[SIMULATOR]
    wa_id = request.match_info["wa_id"]
    try:
        form = await request.post()
    except ValueError:
        return _error(400, "invalid_body", "Send multipart/form-data with a file.")
    upload, caption = form.get("file"), str(form.get("caption") or "").strip()
    if not isinstance(upload, web.FileField):
        return _error(400, "missing_file", "Attach a photo as the `file` field.")
    mime_type = (upload.content_type or "").split(";")[0].strip().lower()
    if mime_type not in PHOTO_TYPES:
        return _error(415, "unsupported_media_type", "WhatsApp photos are JPEG or PNG.")
    data = upload.file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES or not data:
        return _error(413, "photo_too_large", "Photos are 1 byte to 5 MB.")
    if len(caption) > 1024:
        return _error(400, "caption_too_long", "Captions are at most 1024 characters.")
    media_id = simulator.store_media(data, mime_type)
    build = partial(_image, wa_id, media_id, mime_type, data, caption or None)
    item = await simulator.send_from_user(wa_id, build)
    return web.json_response({"item": item.to_dict(), "media_id": media_id})


async def _read(request: web.Request) -> web.Response:
    """Let read statuses go out for the business messages the page has shown."""
    try:
        wamids = (await request.json()).get("wamids")
    except (ValueError, AttributeError):
        return _error(400, "invalid_body", 'The body must be {"wamids": [...]}.')
    if not isinstance(wamids, list) or not all(isinstance(w, str) for w in wamids):
        return _error(400, "invalid_body", 'The body must be {"wamids": [...]}.')
    request.app[SIMULATOR].displayed(request.match_info["wa_id"], wamids)
    return web.json_response({"status": "ok"})


async def _media(request: web.Request) -> web.Response:
    """Serve media bytes to the page (the phone already has the photos it sent)."""
    media = request.app[SIMULATOR].graph.media.get(request.match_info["media_id"])
    if media is None:
        return _error(404, "unknown_media", "No such media id.")
    return web.Response(body=media[0], content_type=media[1].split(";")[0])


async def _wake_waiters(app: web.Application) -> None:
    """Answer every waiting long-poll now, so shutdown does not wait for them."""
    app[SIMULATOR].chats.wake_all()


def _text(wa_id: str, text: str, wamid: str, timestamp: int) -> dict[str, Any]:
    """Build a typed text message."""
    return deliveries.text_message(wa_id, wamid, timestamp, text)


def _tap(kind: str, wa_id: str, context: dict[str, str], option_id: str, title: str,
         description: str | None, wamid: str, timestamp: int) -> dict[str, Any]:
    """Build a tap on a reply button, a list row or a template quick-reply button."""
    if kind == "button_reply":
        return deliveries.button_reply_message(wa_id, wamid, timestamp, context, option_id, title)
    if kind == "list_reply":
        return deliveries.list_reply_message(wa_id, wamid, timestamp, context, option_id, title, description)
    return deliveries.template_button_message(wa_id, wamid, timestamp, context, option_id, title)


def _image(wa_id: str, media_id: str, mime_type: str, data: bytes, caption: str | None, wamid: str,
           timestamp: int) -> dict[str, Any]:
    """Build a photo message by media id."""
    return deliveries.image_message(wa_id, wamid, timestamp, media_id, mime_type, data, caption)


def _error(status: int, code: str, message: str) -> web.Response:
    """Answer a JSON error."""
    return web.json_response({"error": code, "message": message}, status=status)
