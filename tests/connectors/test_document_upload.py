"""The upload route for order documents, mounted on a real Sanic server over a seeded SQLite file."""
from __future__ import annotations

import asyncio
import io
import json
import socket
import uuid
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest
import pytest_asyncio
from PIL import Image
from sanic import Blueprint, Sanic, response

from database.demo_documents import demo_pdf
from database.documents import find_document
from database.seed import seed
from connectors.document_upload import UploadError, mount, parse_upload
from tests.connectors.whatsapp_support import database  # noqa: F401

TOKEN = "data-test-token-" + uuid.uuid4().hex
ASHA, RAVI = "919800000001", "919800000002"
PDF = demo_pdf("INVOICE ORD-10002", ["Polyester fabric roll"])
HTML = b"<!DOCTYPE html><html><body>not a pdf</body></html>"


def announce_put(url: str, headers: dict[str, str], length: int) -> tuple[int, bytes]:
    """PUT headers announcing length bytes, send none of them, and return (status, body) of the answer."""
    parts = urlsplit(url)
    lines = [f"PUT {parts.path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {length}",
             *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode())
        received = b""
        while b"}" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def guard(handler):
    """Stand in for the data API's guard: the token, checked before the handler reads the body."""
    async def guarded(request, **kwargs):
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return response.json({"error": "unauthorized"}, status=401)
        return await handler(request, **kwargs)
    return guarded


@pytest_asyncio.fixture
async def api(database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """Serve the route under /api/data with the WhatsApp channel's 3 MB body cap; return its base URL."""
    monkeypatch.setenv("DOCUMENTS_DIR", str(tmp_path / "documents"))
    monkeypatch.setattr(Sanic, "test_mode", True)
    seed()
    app = Sanic(f"documents_{uuid.uuid4().hex}")
    app.config.REQUEST_MAX_SIZE = 3 * 1024 * 1024  # what connectors/whatsapp/channel.py sets
    blueprint = Blueprint("data_test", url_prefix="/api/data")
    mount(blueprint, guard)
    app.blueprint(blueprint)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    yield f"http://127.0.0.1:{port}/api/data"
    await server.before_stop()
    await server.close()
    await server.after_stop()


async def put(url: str, **kwargs) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
    async with aiohttp.ClientSession() as http:
        async with http.put(url, headers=headers, **kwargs) as answer:
            return answer.status, await answer.json()


@pytest.mark.asyncio
async def test_a_raw_pdf_becomes_the_orders_invoice_for_its_company_only(api):
    """A PDF PUT as the body is stored as ORD-10002's invoice; Asha's company sees it, Ravi does not."""
    status, body = await put(f"{api}/orders/ORD-10002/documents/invoice", data=PDF,
                             headers={"Content-Type": "application/pdf",
                                      "Content-Disposition": 'attachment; filename="INV 204.pdf"'})
    assert status == 200 and (body["filename"], body["content_type"], body["size_bytes"]) == (
        "INV 204.pdf", "application/pdf", len(PDF))
    assert find_document(ASHA, "ORD-10002", "invoice").sha256 == body["sha256"]
    assert find_document(RAVI, "ORD-10002", "invoice") is None


@pytest.mark.asyncio
async def test_a_multipart_image_over_the_webhook_cap_is_taken(api):
    """A 4 MB PNG in a multipart form passes the channel's 3 MB cap and is stored as a .png."""
    out = io.BytesIO()
    Image.frombytes("RGB", (1200, 1200), bytes(range(256)) * 16875).save(out, "PNG", compress_level=0)
    data = out.getvalue()
    assert 3 * 1024 * 1024 < len(data) < 5 * 1024 * 1024
    form = aiohttp.FormData()
    form.add_field("file", data, filename="certificate.jpeg", content_type="image/jpeg")
    status, body = await put(f"{api}/orders/ORD-10001/documents/test_certificate", data=form)
    assert status == 200 and (body["filename"], body["content_type"]) == ("certificate.png", "image/png")


@pytest.mark.asyncio
async def test_a_url_is_referenced_and_replaces_the_stored_file(api):
    """JSON {"url"} replaces ORD-10001's stored invoice by a link."""
    status, body = await put(f"{api}/orders/ORD-10001/documents/invoice", json={"url": "https://erp.example.com/i/204.pdf"})
    assert status == 200 and body["url"] == "https://erp.example.com/i/204.pdf" and body["sha256"] is None
    assert find_document(ASHA, "ORD-10001", "invoice").storage_path is None


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "kwargs", "status", "code"), [
    ("orders/ORD-10002/documents/invoice", {"data": HTML, "headers": {"Content-Type": "application/pdf"}}, 415,
     "unsupported_type"),
    ("orders/ORD-10002/documents/invoice", {"data": b"%PDF-1.4\n" + b"0" * 150_000}, 413, "file_too_large"),
    ("orders/ORD-99999/documents/invoice", {"data": PDF}, 404, "unknown_order"),
    ("orders/ORD-10002/documents/receipt", {"data": PDF}, 400, "invalid_kind"),
    ("orders/-10002/documents/invoice", {"data": PDF}, 400, "invalid_order_ref"),
    ("orders/ORD-10002/documents/invoice", {"json": {"url": "http://erp.example.com/a.pdf"}}, 400, "invalid_url"),
    ("orders/ORD-10002/documents/invoice", {"data": b"", "headers": {"Content-Type": "application/pdf"}}, 400,
     "empty_file"),
], ids=["html-named-pdf", "over-the-limit", "unknown-order", "unknown-kind", "bad-ref", "http-url", "empty"])
async def test_bad_uploads_get_a_clear_4xx_and_store_nothing(api, monkeypatch, path, kwargs, status, code):
    """Each refused upload names its problem, and ORD-10002 still has no invoice."""
    monkeypatch.setenv("DOCUMENTS_MAX_BYTES", "100000")
    answer = await put(f"{api}/{path}", **kwargs)
    assert answer[0] == status and answer[1]["error"] == code and answer[1]["detail"]
    assert find_document(ASHA, "ORD-10002", "invoice") is None


@pytest.mark.asyncio
async def test_a_body_announced_over_the_limit_is_refused_unread(api):
    """A Content-Length over DOCUMENTS_MAX_BYTES gets 413 file_too_large before the body is sent."""
    url = f"{api}/orders/ORD-10002/documents/invoice"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/pdf"}
    status, body = await asyncio.to_thread(announce_put, url, headers, 50 * 1024 * 1024)
    assert status == 413 and json.loads(body)["error"] == "file_too_large"


@pytest.mark.asyncio
async def test_no_token_no_upload(api):
    """Without the token the route answers 401 and stores nothing."""
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{api}/orders/ORD-10002/documents/invoice", data=PDF) as answer:
            assert answer.status == 401
    assert find_document(ASHA, "ORD-10002", "invoice") is None


def test_a_json_body_sent_as_a_form_by_curl_is_read_as_json():
    """curl -d labels JSON as a form; the body's first byte still makes it the {"url"} request."""
    upload = parse_upload("application/x-www-form-urlencoded", b' {"url": "https://erp.example.com/a.pdf"}')
    assert (upload.url, upload.data) == ("https://erp.example.com/a.pdf", None)


def test_a_multipart_form_without_a_file_is_named():
    """A form with no `file` field is refused as missing_file."""
    body = b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--b--\r\n"
    with pytest.raises(UploadError) as refused:
        parse_upload("multipart/form-data; boundary=b", body)
    assert refused.value.code == "missing_file"
