"""PUT /api/data/orders/{order_ref}/documents/{kind}: an order's invoice, packing list or test certificate.

Mounted on the data API's blueprint by connectors/data/channel.py (`mount(api, guard)`), behind its
guard (DATA_API_TOKEN, staff refused, database errors as 503); openapi/data.yaml documents it. The body is the file itself (any Content-Type but JSON or multipart;
its name from `Content-Disposition: attachment; filename="…"`), a multipart form with a `file` field,
or JSON `{"url": "https://…", "filename": "…"}` for a document Meta fetches by link. The type is
decided by the bytes (actions/document_files.py); a refused upload writes nothing. Errors are
`{"error": code, "detail": …}` like the operator API's.

The WhatsApp channel caps every request body at Meta's 3 MB webhook limit; this route streams and
raises its own limit to DOCUMENTS_MAX_BYTES (plus room for the multipart envelope) before reading.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from email.message import Message
from typing import Any, Awaitable, Callable, Optional, Union

from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request, parse_multipart_form
from sanic.response import HTTPResponse

from connectors.data.rows import ORDER_REF_MAX, REF
from database.views import DocumentView
from database.document_files import KINDS, Refusal
from database.document_store import UnknownOrder, max_bytes, store_upload, store_url

ENVELOPE_BYTES = 64 * 1024  # multipart boundaries and part headers around the file
_REFUSAL_STATUS = {"file_too_large": 413, "unsupported_type": 415}


class UploadError(ValueError):
    """A request the route refuses: HTTP status, stable code, a sentence naming the problem."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass(frozen=True)
class UploadRequest:
    """What a PUT carries: file bytes and their name, or an https URL (and a name to show)."""

    data: Optional[bytes] = None
    filename: Optional[str] = None
    url: Optional[str] = None


def target_of(order_ref: str, kind: str) -> tuple[str, str]:
    """Return (ORD-xxxxx, kind) from the path, or raise UploadError naming the bad part."""
    ref = order_ref.strip()
    if len(ref) > ORDER_REF_MAX or not REF.fullmatch(ref):  # the data API's own rule for an order's ref
        raise UploadError(400, "invalid_order_ref",
                          f"order_ref must be 1 to {ORDER_REF_MAX} letters, digits, '.', '_' or '-'")
    if kind not in KINDS:
        raise UploadError(400, "invalid_kind", f"kind must be one of {', '.join(KINDS)}")
    return ref, kind


def parse_upload(content_type: Optional[str], body: bytes, disposition: Optional[str] = None) -> UploadRequest:
    """Read a PUT body: JSON {"url"} (by its type or its first byte), multipart with a `file` field, or the raw file."""
    mime, params = _header_value(content_type or "")
    # Like the data API's other routes, a JSON body is read as JSON whatever curl -d labels it; no PDF,
    # JPEG or PNG starts with "{".
    if mime == "application/json" or (mime != "multipart/form-data" and body.lstrip()[:1] == b"{"):
        try:
            data = json.loads(body or b"")
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise UploadError(400, "invalid_json", "the body must be a JSON object") from None
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            raise UploadError(400, "invalid_json", 'a JSON body must be {"url": "https://…"}')
        filename = data.get("filename")
        if filename is not None and not isinstance(filename, str):
            raise UploadError(400, "invalid_json", "filename must be a string")
        return UploadRequest(url=data["url"], filename=filename)
    if mime == "multipart/form-data":
        boundary = params.get("boundary")
        if not boundary:
            raise UploadError(400, "invalid_multipart", "the multipart body has no boundary")
        try:
            _fields, files = parse_multipart_form(body, boundary.encode("latin-1"))
        except (ValueError, IndexError, UnicodeError):
            raise UploadError(400, "invalid_multipart", "the multipart body cannot be read") from None
        upload = files.get("file") if files else None
        if upload is None:
            raise UploadError(400, "missing_file", "the multipart form needs a `file` field")
        return UploadRequest(data=bytes(upload.body), filename=upload.name)
    if not body:
        raise UploadError(400, "empty_file", "the body is empty: send the file, a multipart form or JSON {\"url\"}")
    return UploadRequest(data=body, filename=_disposition_filename(disposition))


def store(order_ref: str, kind: str, upload: UploadRequest) -> DocumentView:
    """Check and store the upload as the order's current document of that kind (sync; run in a thread)."""
    try:
        if upload.url is not None:
            result: Union[DocumentView, Refusal] = store_url(order_ref, kind, upload.url, upload.filename)
        else:
            result = store_upload(order_ref, kind, upload.data or b"", upload.filename)
    except UnknownOrder:
        raise UploadError(404, "unknown_order", f"no order {order_ref}") from None
    if isinstance(result, Refusal):
        raise UploadError(_REFUSAL_STATUS.get(result.code, 400), result.code, result.message)
    return result


def document_json(view: DocumentView) -> dict[str, Any]:
    """Return the API's view of a stored document (no storage path: that is the server's business)."""
    return {"order_ref": view.order_ref, "kind": view.kind, "filename": view.filename,
            "content_type": view.content_type, "size_bytes": view.size_bytes, "sha256": view.sha256,
            "url": view.url, "created_at": view.created_at.isoformat() + "Z"}


async def read_body(request: Request, limit: int) -> bytes:
    """Read a streamed body of at most limit bytes; refuse a larger one with 413 before storing anything."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadError(413, "file_too_large", f"the body is larger than {limit} bytes")
    request.stream.request_max_size = limit + 1  # the channel's 3 MB cap is for webhooks
    chunks, size = [], 0
    while True:
        try:
            chunk = await request.stream.read()
        except PayloadTooLarge:
            raise UploadError(413, "file_too_large", f"the body is larger than {limit} bytes") from None
        if chunk is None:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise UploadError(413, "file_too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)


Handler = Callable[..., Awaitable[HTTPResponse]]


async def put_order_document(request: Request, order_ref: str, kind: str) -> HTTPResponse:
    """Store the body as the order's current document of that kind and answer with what is stored."""
    try:
        ref, kind = target_of(order_ref, kind)
        body = await read_body(request, max_bytes() + ENVELOPE_BYTES)
        upload = parse_upload(request.headers.get("content-type"), body, request.headers.get("content-disposition"))
        if upload.data is not None and len(upload.data) > max_bytes():
            raise UploadError(413, "file_too_large", f"the file is larger than {max_bytes()} bytes")
        view = await asyncio.to_thread(store, ref, kind, upload)
    except UploadError as error:
        return response.json({"error": error.code, "detail": error.detail}, status=error.status)
    return response.json(document_json(view), status=200)


def mount(blueprint: Blueprint, guard: Callable[[Handler], Handler]) -> None:
    """Add the streamed PUT route to blueprint behind guard (which checks the caller before the body is read)."""
    blueprint.add_route(guard(put_order_document), "/orders/<order_ref:str>/documents/<kind:str>",
                        methods=["PUT"], stream=True, name="put_order_document")


def _header_value(value: str) -> tuple[str, dict[str, str]]:
    """Split a header like `multipart/form-data; boundary=x` into its value and parameters."""
    message = Message()
    message["content-type"] = value
    params = {k.lower(): v for k, v in message.get_params(failobj=[])[1:]}
    return message.get_content_type().lower() if value else "", params


def _disposition_filename(value: Optional[str]) -> Optional[str]:
    """Return the filename of a Content-Disposition header, if any."""
    if not value:
        return None
    message = Message()
    message["content-disposition"] = value
    return message.get_filename()
