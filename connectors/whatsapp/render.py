"""Turn one Rasa bot response into the ordered Graph API /messages bodies for WhatsApp.

Pure: a response dict in, payload dicts out. Limits are Meta's (shared/whatsapp/README.md
sections 11-12): text 4096, caption 1024, button body 1024, list body 4096, 3 reply buttons with
titles of 20 and ids of 256, one list of 10 rows with titles of 24, descriptions of 72, ids of
200 and a button label of 20. Every choice shows its number, so typing "2" works everywhere.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlparse

TEXT_MAX = 4096
CAPTION_MAX = 1024
BUTTON_BODY_MAX = 1024
LIST_BODY_MAX = 4096
MAX_BUTTONS = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
MAX_ROWS = 10
LIST_LABEL_MAX = 20
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200
ELLIPSIS = "…"
DEFAULT_PROMPT = "Choose an option:"  # interactive body when the real text went out before it
DEFAULT_LIST_LABEL = "Choose"
SHORT_ID_PREFIX = "opt:"
MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
# Marks a body whose file the sender must upload first (connectors/whatsapp/sender.py); never sent.
UPLOAD_KEY = "_upload"
_SEPARATORS = ("\n\n", "\n", " ")  # paragraph, then line, then word
_ENVELOPE_KEYS = frozenset({"messaging_product", "recipient_type", "to", "recipient"})


@dataclass(frozen=True)
class Rendered:
    """The Graph bodies to send in order, and what a reply to them means."""

    payloads: list[dict[str, Any]]
    # Reply key -> full Rasa payload: each typed number ("1", "2", ...) and each short id
    # ("opt:2") used because a payload was too long. Ids equal to their payload are not listed.
    choices: dict[str, str] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()  # response parts WhatsApp cannot show (log them)


@dataclass(frozen=True)
class _Option:
    """One button as Rasa gives it, numbered from 1."""

    number: int
    title: str
    payload: str


def render_response(
    recipient: str,
    message: Mapping[str, Any],
    reply_to: str | None = None,
    *,
    list_label: str = DEFAULT_LIST_LABEL,
) -> Rendered:
    """Render one Rasa response (text, buttons, quick_replies, image, attachment, custom)."""
    text = str(message.get("text") or "").strip()
    options = _options(message.get("quick_replies") or message.get("buttons") or [])
    image = message.get("image")
    bodies: list[dict[str, Any]] = []
    choices: dict[str, str] = {}
    skipped: list[str] = []
    if options:
        bodies += _render_options(text, options, list_label, choices)
    elif image and text and len(text) <= CAPTION_MAX:
        bodies.append(_media("image", image, caption=text))  # one captioned bubble, as Turn does
        image = None
    else:
        bodies += [_text(chunk) for chunk in split_text(text)]
    if message.get("custom"):
        fragment = _custom_fragment(message["custom"])
        if fragment is None:
            skipped.append("custom")
        else:
            bodies.append(fragment)
    if image:
        bodies.append(_media("image", image))
    if message.get("attachment"):
        bodies.append(_attachment(message["attachment"]))
    if message.get("elements"):
        skipped.append("elements")
    return Rendered(_address(recipient, bodies, reply_to), choices, tuple(skipped))


def split_text(text: str, limit: int = TEXT_MAX) -> list[str]:
    """Split text into chunks of at most limit chars at paragraph, then line, then word breaks."""
    return _split(text.strip(), limit, _SEPARATORS) if text.strip() else []


def shorten(text: str, limit: int) -> str:
    """Return text on one line, cut with an ellipsis (at a word break if one is near) to fit limit."""
    return _cut(text, limit)[0]


def _render_options(
    text: str, options: list[_Option], list_label: str, choices: dict[str, str]
) -> list[dict[str, Any]]:
    """Render choices: <=3 reply buttons, <=10 one list, more a numbered text of titles only."""
    choices.update({str(o.number): o.payload for o in options})
    if len(options) > MAX_ROWS:
        menu = "\n".join(f"{o.number}. {' '.join(o.title.split())}" for o in options)
        return [_text(chunk) for chunk in split_text(f"{text}\n\n{menu}" if text else menu)]
    if len(options) <= MAX_BUTTONS:
        lead, body = _lead_and_body(text, BUTTON_BODY_MAX)
        buttons = [
            {"type": "reply", "reply": {"id": _option_id(o, BUTTON_ID_MAX, options, choices),
                                        "title": _numbered(o, BUTTON_TITLE_MAX)[0]}}
            for o in options
        ]
        action: dict[str, Any] = {"buttons": buttons}
        kind = "button"
    else:
        lead, body = _lead_and_body(text, LIST_BODY_MAX)
        rows = []
        for o in options:
            title, rest = _numbered(o, ROW_TITLE_MAX)
            row = {"id": _option_id(o, ROW_ID_MAX, options, choices), "title": title}
            if rest:  # the description carries on where the cut title stopped
                row["description"] = shorten(ELLIPSIS + rest, ROW_DESCRIPTION_MAX)
            rows.append(row)
        action = {"button": shorten(list_label, LIST_LABEL_MAX) or DEFAULT_LIST_LABEL,
                  "sections": [{"rows": rows}]}
        kind = "list"
    interactive = {"type": kind, "body": {"text": body}, "action": action}
    return [_text(chunk) for chunk in lead] + [{"type": "interactive", "interactive": interactive}]


def _options(raw: Any) -> list[_Option]:
    """Normalise Rasa buttons ({title, payload}); a missing payload falls back on the title."""
    buttons = [b for b in raw if isinstance(b, Mapping)] if isinstance(raw, list) else []
    options = []
    for number, button in enumerate(buttons, start=1):
        title = str(button.get("title") or "")  # never show a payload, even when the title is missing
        options.append(_Option(number, title, str(button.get("payload") or title)))
    return options


def _numbered(option: _Option, limit: int) -> tuple[str, str]:
    """Return ("<n>. <title>" cut to limit, the cut-off rest); the number keeps titles unique."""
    prefix = f"{option.number}. "
    shown, rest = _cut(option.title, limit - len(prefix))
    return (prefix + shown).strip(), rest


def _option_id(option: _Option, limit: int, options: list[_Option], choices: dict[str, str]) -> str:
    """Return the payload as the id when Meta accepts it and it is unique, else "opt:<n>"."""
    payload = option.payload
    fits = bool(payload) and len(payload) <= limit and payload == payload.strip()
    earlier = options[: option.number - 1]
    unique = not payload.startswith(SHORT_ID_PREFIX) and all(o.payload != payload for o in earlier)
    if fits and unique:
        return payload
    short_id = f"{SHORT_ID_PREFIX}{option.number}"
    choices[short_id] = payload
    return short_id


def _lead_and_body(text: str, body_max: int) -> tuple[list[str], str]:
    """Return text bubbles to send first and the interactive body (the last paragraph if it fits)."""
    chunks = split_text(text)
    if not chunks:
        return [], DEFAULT_PROMPT
    if len(chunks[-1]) <= body_max:
        return chunks[:-1], chunks[-1]
    head, _, tail = chunks[-1].rpartition("\n\n")
    if head.strip() and len(tail.strip()) <= body_max:  # usually the closing question
        return chunks[:-1] + [head.strip()], tail.strip()
    return chunks, DEFAULT_PROMPT


def _cut(text: str, limit: int) -> tuple[str, str]:
    """Return (text fitted to limit, ending in an ellipsis if cut, the rest that did not fit)."""
    flat = " ".join(text.split())  # titles are one line on WhatsApp
    if len(flat) <= limit:
        return flat, ""
    head = flat[: max(limit - 1, 0)]
    space = head.rfind(" ")
    mid_word = flat[len(head)] != " "
    if mid_word and space >= limit // 2:  # prefer a word break when it does not waste half the room
        head = head[:space]
    head = head.rstrip()
    return head + ELLIPSIS, flat[len(head):].strip()


def _split(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    """Pack pieces split on the first separator into chunks; recurse on the next for big pieces."""
    if len(text) <= limit:
        return [text]
    if not separators:  # one unbroken run longer than the limit: cut it hard
        return [text[i: i + limit] for i in range(0, len(text), limit)]
    separator, finer = separators[0], separators[1:]
    chunks: list[str] = []
    current = ""
    for piece in text.split(separator):
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            chunks.append(current)
        current = piece if len(piece) <= limit else ""
        if len(piece) > limit:
            chunks.extend(_split(piece.strip(), limit, finer))
    if current.strip():
        chunks.append(current)
    return [c.strip() for c in chunks if c.strip()]


def _text(body: str) -> dict[str, Any]:
    """Return a text message body."""
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def _media(kind: str, source: Any, caption: str | None = None) -> dict[str, Any]:
    """Return a media message from a URL, a media id, or a dict with link/url/id."""
    obj: dict[str, Any] = {}
    if isinstance(source, Mapping):
        link = source.get("link") or source.get("url")
        obj.update({k: source[k] for k in ("id", "filename", "caption") if source.get(k)})
    else:
        link = str(source)
    if link and "id" not in obj:
        is_url = str(link).startswith(("http://", "https://"))
        obj["link" if is_url else "id"] = str(link)  # a bare value is an uploaded media id
    if caption and kind not in ("audio", "sticker"):  # Meta refuses captions on these
        obj["caption"] = caption
    if kind == "document" and "filename" not in obj and obj.get("link"):
        name = posixpath.basename(urlparse(obj["link"]).path)
        obj.update({"filename": name} if name else {})
    return {"type": kind, kind: obj}


def _attachment(attachment: Any) -> dict[str, Any]:
    """Return a document (or the media type an attachment dict names) for Rasa's attachment."""
    kind = attachment.get("type") if isinstance(attachment, Mapping) else None
    return _media(kind if kind in MEDIA_TYPES else "document", attachment)


def _custom_fragment(custom: Any) -> dict[str, Any] | None:
    """Return a Graph body fragment from custom (or custom["whatsapp"]) if it names a type.

    `{"document": {...}}` without a type (actions/documents.py) is an order document; see
    document_message. With a type it is a Graph body like any other.
    """
    if isinstance(custom, Mapping) and isinstance(custom.get("document"), Mapping) and "type" not in custom:
        return document_message(custom["document"])
    if isinstance(custom, Mapping) and isinstance(custom.get("whatsapp"), Mapping):
        custom = custom["whatsapp"]
    if isinstance(custom, Mapping) and isinstance(custom.get("type"), str):
        return {k: v for k, v in custom.items() if k != UPLOAD_KEY}  # only document_message asks for uploads
    return None


def document_message(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the Graph body for an order document: by https link, or marked for upload by the sender.

    A PDF is a `document` message with its filename; a JPEG or PNG an `image` (Meta's document
    types are not images). Both carry the caption. None when the payload names no file or URL.
    """
    content_type = str(document.get("content_type") or "application/pdf")
    kind = "image" if content_type.startswith("image/") else "document"
    filename = str(document.get("filename") or "document")
    obj: dict[str, Any] = {}
    body: dict[str, Any] = {"type": kind, kind: obj}
    url = str(document.get("url") or "")
    if url.startswith("https://"):
        obj["link"] = url
    elif document.get("path") and document.get("sha256"):
        body[UPLOAD_KEY] = {"path": str(document["path"]), "sha256": str(document["sha256"]),
                            "mime_type": content_type, "filename": filename}
    else:
        return None
    caption = " ".join(str(document.get("caption") or "").split())
    if caption:
        obj["caption"] = shorten(caption, CAPTION_MAX)
    if kind == "document":
        obj["filename"] = filename
    return body


def with_media_id(payload: Mapping[str, Any], media_id: str) -> dict[str, Any]:
    """Return the body to send once its file is uploaded: the upload mark replaced by the media id."""
    body = {k: v for k, v in payload.items() if k != UPLOAD_KEY}
    kind = body.get("type")
    body[kind] = {"id": media_id, **{k: v for k, v in dict(body.get(kind) or {}).items() if k != "link"}}
    return body


def _address(recipient: str, bodies: list[dict[str, Any]], reply_to: str | None) -> list[dict[str, Any]]:
    """Wrap each body in the envelope; quote reply_to on the first message that may carry it."""
    envelope: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    digits = "".join(ch for ch in recipient if ch.isdigit())
    if digits and not any(ch.isalpha() for ch in recipient):
        envelope["to"] = "+" + digits  # without "+" Meta prepends our own country code
    else:
        envelope["recipient"] = recipient  # a BSUID (username user); unverified Meta field
    payloads: list[dict[str, Any]] = []
    quoted = not reply_to
    for body in bodies:
        # Envelope keys win, so a custom fragment cannot redirect a message to someone else.
        rest = {k: v for k, v in body.items() if k not in _ENVELOPE_KEYS}
        if not quoted and rest.get("type") != "reaction":  # Meta refuses context on reactions
            rest = {"context": {"message_id": reply_to}, **rest}
            quoted = True
        payloads.append({**envelope, **rest})
    return payloads
