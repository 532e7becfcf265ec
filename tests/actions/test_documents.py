"""Order documents: checks by content, storage, the company rule, and the action's answers per channel."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import yaml
from PIL import Image
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from database.demo_documents import demo_pdf
from database.documents import find_document
from database.models import OrderDocument
from database.session import sessions
from database.document_files import (META_IMAGE_MAX_BYTES, CheckedFile, Refusal, check_file, check_url,
                                    normalize_kind, sanitize_filename)
from database.document_store import UnknownOrder, store_upload, store_url
from actions.documents import ActionSendDocument, ValidateDocumentForm, not_found_text

ROOT = Path(__file__).resolve().parents[2]
ASHA, RAVI, PRIYA, STRANGER = "919800000001", "919800000002", "919800000009", "919800000099"
PDF = demo_pdf("INVOICE TEST", ["one line"])
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script>Invoice</body></html>"
MB = 1024 * 1024


def png(size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def documents_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep stored documents in tmp_path."""
    folder = tmp_path / "documents"
    monkeypatch.setenv("DOCUMENTS_DIR", str(folder))
    return folder


@pytest.fixture
def seeded(documents_dir: Path, today) -> Path:
    """A seeded database whose demo documents live in documents_dir."""
    return documents_dir


@pytest.fixture(scope="module")
def domain() -> dict:
    return yaml.safe_load((ROOT / "domain.yml").read_text())


def test_a_pdf_named_png_is_taken_as_the_pdf_it_is():
    """The type comes from the bytes: a PDF uploaded as invoice.png is stored and shown as a .pdf."""
    checked = check_file(PDF, "invoice.png", "invoice", "ORD-10001", 10 * MB)
    assert isinstance(checked, CheckedFile)
    assert (checked.content_type, checked.filename) == ("application/pdf", "invoice.pdf")
    assert checked.sha256 == hashlib.sha256(PDF).hexdigest()


@pytest.mark.parametrize(("data", "name", "code"), [
    (HTML, "invoice.pdf", "unsupported_type"),
    (b"PK\x03\x04" + b"\0" * 100, "invoice.pdf", "unsupported_type"),
    (b"", "invoice.pdf", "empty_file"),
    (b"%PDF-1.4\n" + b"0" * (2 * MB), "big.pdf", "file_too_large"),
], ids=["html-named-pdf", "zip-named-pdf", "empty", "over-the-limit"])
def test_anything_but_a_pdf_or_image_within_the_limit_is_refused(data, name, code):
    """HTML or a zip named .pdf, an empty file and one over DOCUMENTS_MAX_BYTES are refused by name of the problem."""
    refusal = check_file(data, name, "invoice", "ORD-10001", 1 * MB)
    assert isinstance(refusal, Refusal) and refusal.code == code


def test_an_image_over_metas_image_cap_is_refused_even_under_the_document_limit():
    """A PNG over 5 MB is refused: WhatsApp takes images up to 5 MB."""
    data = png() + b"\0" * (META_IMAGE_MAX_BYTES + 1)
    refusal = check_file(data, "photo.png", "test_certificate", "ORD-10001", 10 * MB)
    assert isinstance(refusal, Refusal) and "5 MB" in refusal.message


@pytest.mark.parametrize(("raw", "expected"), [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("C:\\Users\\asha\\Invoice 204.PDF", "Invoice 204.pdf"),
    ("inv\x00oice\u202e.pdf", "invoice.pdf"),
    (".hidden.pdf", "hidden.pdf"),
    ("", "Invoice ORD-10001.pdf"),
    ("<script>.pdf", "script.pdf"),
    ("चालान.pdf", "चालान.pdf"),
    ("x" * 300 + ".pdf", "x" * 96 + ".pdf"),
], ids=["traversal", "windows-path", "control-chars", "hidden", "none", "markup", "devanagari", "long"])
def test_filenames_are_plain_short_and_end_in_the_real_type(raw, expected):
    """Folders, control characters, markup and leading dots go; the name keeps its words and gets .pdf."""
    assert sanitize_filename(raw, "pdf", "Invoice ORD-10001") == expected


@pytest.mark.parametrize(("text", "kind"), [
    ("send me the invoice for ORD-10001", "invoice"), ("ORD-10001 ka bill bhejo", "invoice"),
    ("invoice chahiye", "invoice"), ("packing list bhejo", "packing_list"), ("Packing list", "packing_list"),
    ("test certificate", "test_certificate"), ("COA pls", "test_certificate"), ("बिल भेजो", "invoice"),
    ("e-way bill bhejo", None), ("ORD-10001", None), ("test_certificate", "test_certificate"),
], ids=lambda v: str(v))
def test_document_kinds_are_read_from_what_customers_write(text, kind):
    """English, Hinglish and Hindi words name the kind; an e-way bill is not the invoice."""
    assert normalize_kind(text) == kind


@pytest.mark.parametrize("url", ["http://example.com/a.pdf", "https://user:pw@example.com/a.pdf",
                                 "https://example.com/a b.pdf", "https://example.com/invoice.html", "ftp://x/a.pdf"])
def test_only_plain_https_urls_to_a_pdf_or_image_are_referenced(url):
    """A referenced document must be https, without credentials or spaces, and end in .pdf/.jpg/.png."""
    assert isinstance(check_url(url, "invoice", "ORD-10001"), Refusal)


def test_upload_is_written_whole_and_replaces_the_earlier_document(seeded):
    """Uploading again replaces the order's invoice (one row), and no part file is left behind."""
    first = store_upload("ORD-10002", "invoice", PDF, "first.pdf")
    second = store_upload("ORD-10002", "invoice", png(), "scan.jpg")
    assert (second.filename, second.content_type) == ("scan.png", "image/png")
    assert (seeded / second.storage_path).read_bytes() == png()
    assert (seeded / first.storage_path).exists() and not list(seeded.rglob("*.part"))
    with sessions()() as session:
        assert session.scalar(select(func.count()).select_from(OrderDocument)
                              .where(OrderDocument.kind == "invoice", OrderDocument.order_id.isnot(None))) == 2
    assert find_document(ASHA, "ORD-10002", "invoice").sha256 == second.sha256


def test_a_refused_upload_or_unknown_order_writes_nothing(seeded):
    """An HTML file named .pdf stores nothing; an unknown order raises before anything is written."""
    before = sorted(seeded.rglob("*"))
    assert isinstance(store_upload("ORD-10002", "invoice", HTML, "invoice.pdf"), Refusal)
    with pytest.raises(UnknownOrder):
        store_upload("ORD-99999", "invoice", PDF, "invoice.pdf")
    assert sorted(seeded.rglob("*")) == before and find_document(ASHA, "ORD-10002", "invoice") is None


def test_a_url_replaces_a_stored_file(seeded):
    """A referenced URL becomes the current packing list, with no stored path."""
    view = store_url("ORD-10001", "packing_list", "https://erp.example.com/docs/PL-204.pdf")
    assert (view.url, view.storage_path, view.filename) == ("https://erp.example.com/docs/PL-204.pdf", None, "PL-204.pdf")


def test_documents_follow_the_order_visibility(seeded):
    """Asha's company and staff see ORD-10001's invoice; Ravi and an unknown number do not."""
    assert find_document(ASHA, "ORD-10001", "invoice") is not None
    assert find_document(PRIYA, "ORD-10001", "invoice") is not None
    assert find_document(RAVI, "ORD-10001", "invoice") is None
    assert find_document(STRANGER, "ORD-10001", "invoice") is None


def submit_state(sender: str, ref: str, kind: str, channel: str = "whatsapp") -> Tracker:
    """Return the tracker when document_form has just filled both slots."""
    return Tracker.from_dict({
        "sender_id": sender,
        "slots": {"document_order_id": ref, "document_kind": kind, "requested_slot": None},
        "latest_message": {"text": f"send me the {kind} for {ref}", "intent": {"name": "request_document"},
                           "entities": []},
        "events": [{"event": "user", "text": "hi", "input_channel": channel,
                    "parse_data": {"intent": {"name": "request_document"}, "entities": []}}],
        "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": "document_form",
    })


RESET = [SlotSet("document_order_id", None), SlotSet("document_kind", None)]


@pytest.mark.asyncio
async def test_the_owner_gets_the_invoice_as_a_document_payload_on_whatsapp(seeded, domain):
    """Asha's request for ORD-10001's invoice dispatches the document with a short caption."""
    dispatcher = CollectingDispatcher()
    events = await ActionSendDocument().run(dispatcher, submit_state(ASHA, "ORD-10001", "invoice"), domain)
    [message] = dispatcher.messages
    document = message["custom"]["document"]
    assert document["caption"] == "📄 Invoice for ORD-10001"
    assert (document["filename"], document["content_type"]) == ("Invoice ORD-10001.pdf", "application/pdf")
    assert (seeded / document["path"]).exists() and document["sha256"]
    assert events == [*RESET, SlotSet("document_missing", False)]


@pytest.mark.asyncio
async def test_other_channels_get_the_document_named_in_text(seeded, domain):
    """On the REST channel (rasa shell too) the answer names the document instead of carrying it."""
    dispatcher = CollectingDispatcher()
    await ActionSendDocument().run(dispatcher, submit_state(ASHA, "ORD-10001", "packing_list", "rest"), domain)
    [message] = dispatcher.messages
    assert message["text"].startswith("📄 Packing list for ORD-10001: Packing list ORD-10001.pdf, 1")
    assert not message.get("custom")


@pytest.mark.asyncio
async def test_a_missing_document_is_said_and_a_person_offered(seeded, domain):
    """ORD-10002 has no invoice: the answer says so and sets document_missing, which offers a person."""
    dispatcher = CollectingDispatcher()
    events = await ActionSendDocument().run(dispatcher, submit_state(ASHA, "ORD-10002", "invoice"), domain)
    assert [m["text"] for m in dispatcher.messages] == [
        "I don't have the invoice for ORD-10002 here yet. Our accounts team can send it to you."]
    assert events[-1] == SlotSet("document_missing", True)


@pytest.mark.asyncio
@pytest.mark.parametrize("ref", ["ORD-10001", "ORD-99999"], ids=["another-company", "no-such-order"])
async def test_another_companys_order_is_answered_as_a_missing_order(seeded, domain, ref):
    """Ravi asking for Asha's ORD-10001 reads exactly what a non-existent order gets, and no document."""
    tracker = Tracker.from_dict({
        "sender_id": RAVI, "slots": {"requested_slot": None},
        "latest_message": {"text": f"send me the invoice for {ref}", "intent": {"name": "request_document"},
                           "entities": [{"entity": "order_id", "value": ref}]},
        "events": [], "paused": False, "followup_action": None,
        "active_loop": {"name": "document_form"}, "latest_action_name": "action_listen",
    })
    dispatcher = CollectingDispatcher()
    events = await ValidateDocumentForm().validate_document_order_id(ref, dispatcher, tracker, domain)
    assert [m["text"] for m in dispatcher.messages] == [not_found_text(ref)]
    assert events == {"document_order_id": None}
    sent = CollectingDispatcher()
    await ActionSendDocument().run(sent, submit_state(RAVI, ref, "invoice"), domain)
    assert [m["text"] for m in sent.messages] == [not_found_text(ref)]


@pytest.mark.asyncio
@pytest.mark.parametrize(("requested", "said", "kind"), [
    (None, "ORD-10001 ka bill bhejo", "invoice"),
    ("document_order_id", "ORD-10002 packing list", "packing_list"),
    ("document_kind", "/inform{\"document_kind\":\"invoice\"}", None),
], ids=["hinglish-request", "answering-which-order", "tapped-button"])
async def test_the_kind_is_read_from_the_words_of_any_answer(seeded, domain, requested, said, kind):
    """Words name the kind whenever the form runs ("ka bill bhejo", "ORD-10002 packing list"); a tap uses its entity."""
    tracker = Tracker.from_dict({
        "sender_id": ASHA, "slots": {"requested_slot": requested, "document_kind": None},
        "latest_message": {"text": said, "intent": {"name": "request_document"},
                           "entities": []},
        "events": [], "paused": False, "followup_action": None,
        "active_loop": {"name": "document_form"}, "latest_action_name": "action_listen",
    })
    found = await ValidateDocumentForm().extract_document_kind(CollectingDispatcher(), tracker, domain)
    assert found == ({"document_kind": kind} if kind else {})
