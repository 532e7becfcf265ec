"""Order documents over WhatsApp: rendering, Meta's /media checks, and one upload per document sent."""
from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from database.demo_documents import demo_pdf
from database.session import sessions
from connectors.whatsapp.render import UPLOAD_KEY, render_response, with_media_id
from connectors.whatsapp.tables import outbox
from simulator.graph_rules import validate_message
from tests.connectors.test_whatsapp_webhook import ASHA, quiet, served  # noqa: F401
from tests.connectors.whatsapp_support import database, delivery, text  # noqa: F401
from tests.fakes.graph_api import DEFAULT_PHONE_NUMBER_ID, DEFAULT_TOKEN

PDF = demo_pdf("INVOICE ORD-10001", ["Cotton yarn 40s"])
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


def stored_document(folder: Path, data: bytes = PDF) -> dict:
    """Store data as a document file under folder and return the action's custom payload for it."""
    sha = hashlib.sha256(data).hexdigest()
    relative = f"{sha[:2]}/{sha}.pdf"
    (folder / relative).parent.mkdir(parents=True, exist_ok=True)
    (folder / relative).write_bytes(data)
    return {"document": {"order_ref": "ORD-10001", "kind": "invoice", "filename": "Invoice ORD-10001.pdf",
                         "content_type": "application/pdf", "caption": "📄 Invoice for ORD-10001",
                         "path": relative, "sha256": sha, "size": len(data)}}


def test_a_stored_document_renders_as_a_document_to_upload_first():
    """The document payload becomes a document message with filename and caption, marked for upload."""
    [body] = render_response(ASHA, {"custom": stored_document_payload()}).payloads
    assert body["type"] == "document" and body["to"] == "+" + ASHA
    assert body["document"] == {"caption": "📄 Invoice for ORD-10001", "filename": "Invoice ORD-10001.pdf"}
    assert body[UPLOAD_KEY]["mime_type"] == "application/pdf"
    sendable = with_media_id(body, "1000000000000001")
    assert UPLOAD_KEY not in sendable and sendable["document"]["id"] == "1000000000000001"
    assert validate_message(sendable) is None


def stored_document_payload() -> dict:
    return {"document": {"order_ref": "ORD-10001", "kind": "invoice", "filename": "Invoice ORD-10001.pdf",
                         "content_type": "application/pdf", "caption": "📄 Invoice for ORD-10001",
                         "path": "ab/ab.pdf", "sha256": "ab" * 32, "size": 10}}


@pytest.mark.parametrize(("document", "expected"), [
    ({"url": "https://erp.example.com/PL-204.pdf", "filename": "PL-204.pdf", "content_type": "application/pdf",
      "caption": "📄 Packing list for ORD-10001"},
     {"type": "document", "document": {"link": "https://erp.example.com/PL-204.pdf", "filename": "PL-204.pdf",
                                       "caption": "📄 Packing list for ORD-10001"}}),
    ({"url": "https://erp.example.com/tc.jpg", "filename": "tc.jpg", "content_type": "image/jpeg",
      "caption": "📄 Test certificate for ORD-10001"},
     {"type": "image", "image": {"link": "https://erp.example.com/tc.jpg",
                                 "caption": "📄 Test certificate for ORD-10001"}}),
], ids=["pdf-link", "image-link"])
def test_a_referenced_document_is_sent_by_link(document, expected):
    """An https document goes out by link (a PDF as a document, an image as an image), accepted as Meta would."""
    [body] = render_response(ASHA, {"custom": {"document": document}}).payloads
    assert {k: body[k] for k in ("type", body["type"])} == expected and UPLOAD_KEY not in body
    assert validate_message(body) is None


def test_a_generic_custom_payload_cannot_ask_for_an_upload():
    """Only the document payload may mark a body for upload; a custom message with the mark loses it."""
    custom = {"type": "document", "document": {"link": "https://x.example/a.pdf"}, UPLOAD_KEY: {"path": "/etc/passwd"}}
    [body] = render_response(ASHA, {"custom": custom}).payloads
    assert UPLOAD_KEY not in body


async def upload(http: aiohttp.ClientSession, url: str, mime: str | None, data: bytes | None) -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    if mime is not None:
        form.add_field("type", mime)
    if data is not None:
        form.add_field("file", data, filename="x", content_type=mime or "application/octet-stream")
    async with http.post(url, data=form, headers=AUTH) as response:
        return response.status, await response.json()


@pytest.mark.asyncio
@pytest.mark.parametrize(("mime", "data", "code"), [
    ("text/html", b"<html></html>", 100),
    ("image/png", b"\x89PNG" + b"\0" * (5 * 1024 * 1024), 100),
    ("application/pdf", None, 100),
    (None, PDF, 131008),
], ids=["unsupported-type", "image-over-5mb", "no-file-not-multipart", "no-type"])
async def test_the_stand_in_refuses_uploads_meta_refuses(graph, mime, data, code):
    """/media refuses a type Meta does not take, an image over 5 MB, and a missing file or type."""
    async with aiohttp.ClientSession() as http:
        status, body = await upload(http, f"{graph.graph_url}/{DEFAULT_PHONE_NUMBER_ID}/media", mime, data)
    assert status == 400 and body["error"]["code"] == code
    assert graph.uploads() == []


def outbox_rows() -> list:
    with sessions()() as session:
        return list(session.execute(select(outbox.c.state, outbox.c.payload)))


@pytest.mark.asyncio
async def test_a_document_is_uploaded_once_though_its_send_fails_twice(served, tmp_path, monkeypatch):
    """Graph refusing the send twice costs no second upload: one upload, one document message by its id."""
    monkeypatch.setenv("DOCUMENTS_DIR", str(tmp_path / "documents"))
    payload = stored_document(tmp_path / "documents")
    served.assistant.answer = lambda m: [{"custom": payload}]
    served.graph.fail_next(2)
    await served.post(delivery(text(ASHA, "send me the invoice for ORD-10001")))
    [message] = await served.graph.messages_to(ASHA, timeout=15)
    await quiet(1.0)
    [uploaded] = served.graph.uploads()
    assert uploaded.body["file"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert uploaded.body["type"] == "application/pdf"
    assert message["type"] == "document" and message["document"]["id"] == uploaded.response["id"]
    assert message["document"]["caption"] == "📄 Invoice for ORD-10001"
    assert served.graph.sent_to(ASHA) == [message]
    [(state, stored)] = outbox_rows()
    assert state == "sent" and UPLOAD_KEY not in stored


@pytest.mark.asyncio
async def test_a_failed_upload_is_retried_and_sends_one_message(served, tmp_path, monkeypatch):
    """An upload that fails with a 500 is tried again; the user gets the document once."""
    monkeypatch.setenv("DOCUMENTS_DIR", str(tmp_path / "documents"))
    payload = stored_document(tmp_path / "documents")
    served.assistant.answer = lambda m: [{"custom": payload}]
    served.graph.fail_next(1, scope="all")
    await served.post(delivery(text(ASHA, "send me the invoice for ORD-10001")))
    [message] = await served.graph.messages_to(ASHA, timeout=15)
    await quiet(1.0)
    assert len(served.graph.uploads()) == 1 and served.graph.sent_to(ASHA) == [message]


@pytest.mark.asyncio
async def test_a_document_changed_on_disk_is_not_sent(served, tmp_path, monkeypatch):
    """Bytes other than the ones recorded are neither uploaded nor sent; the reply is recorded as failed."""
    monkeypatch.setenv("DOCUMENTS_DIR", str(tmp_path / "documents"))
    payload = stored_document(tmp_path / "documents")
    (tmp_path / "documents" / payload["document"]["path"]).write_bytes(b"%PDF-1.4 other bytes")
    served.assistant.answer = lambda m: [{"custom": payload}, {"text": "anything else?"}]
    await served.post(delivery(text(ASHA, "send me the invoice for ORD-10001")))
    [after] = await served.graph.messages_to(ASHA, timeout=10)
    assert after["text"]["body"] == "anything else?" and served.graph.uploads() == []
    assert [state for state, _ in outbox_rows()] == ["failed", "sent"]
