"""Documents on request over the real stack: rasa run with the WhatsApp channel and the data API, the action
server, the Graph stand-in. The demo seed has ORD-10001's invoice and packing list; more arrive through the data API."""
from __future__ import annotations

import urllib.error
import urllib.request
from typing import Iterator

import pytest

from database.demo_documents import demo_pdf
from tests.connectors.whatsapp_support import delivery, list_reply
from tests.data.data_stack import DataStack, data_stack
from tests.e2e.whatsapp_fixtures import WhatsAppStack, body_text, titles

ASHA, RAVI = "919800000001", "919800000002"  # Asha Traders owns ORD-10001; Ravi is Bharat Textiles


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataStack]:
    """The whole stack: WhatsApp, management and data channels, with a fresh data token."""
    with data_stack(tmp_path_factory.mktemp("documents"), {"NOTIFY_SCAN_SECONDS": "0"}) as stack:
        yield stack


@pytest.fixture(scope="module")
def whatsapp(running: DataStack) -> WhatsAppStack:
    """The WhatsApp side of the running stack."""
    return running.operator.whatsapp


def upload(running: DataStack, path: str, data: bytes, content_type: str, filename: str) -> tuple[int, bytes]:
    """PUT a file to the data API as the ERP would; return (status, body)."""
    request = urllib.request.Request(
        f"{running.api_url}{path}", data, method="PUT",
        headers={"Authorization": f"Bearer {running.token}", "Content-Type": content_type,
                 "Content-Disposition": f'attachment; filename="{filename}"'})
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def replies(whatsapp, user: str, words: str, count: int, quiet: float = 1.5) -> list[dict]:
    """Send words from user and return the count new messages their phone received (and nothing more)."""
    start = len(whatsapp.graph.sent_to(user))
    whatsapp.say(user, words)
    new = whatsapp.settled(user, start + count, quiet=quiet)[start:]
    assert len(new) == count, new
    return new


@pytest.fixture(scope="module", autouse=True)
def greeted(whatsapp) -> None:
    """Open both conversations with "hi" (greeting and main menu), so each test sees only its own answers."""
    for user in (ASHA, RAVI):
        replies(whatsapp, user, "hi", 2)


def seen(message: dict) -> tuple:
    """Return what the user sees of a message: its type, text and tappable titles."""
    if message["type"] == "interactive":
        return message["type"], body_text(message), titles(message)
    return message["type"], body_text(message) if message["type"] == "text" else message[message["type"]]


def uploads(whatsapp) -> list:
    """Return the media uploads the stand-in accepted so far."""
    return whatsapp.graph.fake.uploads()


def test_the_owner_gets_the_invoice_as_one_uploaded_document_with_a_caption(whatsapp):
    """Asha's "send me the invoice for ORD-10001" uploads the PDF once and sends one document message to her."""
    before = len(uploads(whatsapp))
    [message] = replies(whatsapp, ASHA, "send me the invoice for ORD-10001", 1, quiet=2.0)
    assert message["type"] == "document"
    assert message["document"]["caption"] == "📄 Invoice for ORD-10001"
    assert message["document"]["filename"] == "Invoice ORD-10001.pdf"
    [uploaded] = uploads(whatsapp)[before:]
    assert message["document"]["id"] == uploaded.response["id"]
    assert uploaded.body["type"] == "application/pdf" and uploaded.body["file"]["size"] > 1000
    data, mime = whatsapp.graph.fake.state.media[uploaded.response["id"]]
    assert data.startswith(b"%PDF-") and mime == "application/pdf"


def test_an_invoice_uploaded_through_the_data_api_reaches_its_customer_and_no_other(running, whatsapp):
    """ORD-10005's invoice PUT through the data API reaches Asha as a document with those bytes; Ravi gets none."""
    invoice = demo_pdf("INVOICE ORD-10005", ["Viscose blend yarn", "300 kg"])
    assert upload(running, "/orders/ORD-10005/documents/invoice", invoice, "application/pdf", "INV-10005.pdf")[0] == 200
    assert upload(running, "/orders/ORD-10005/documents/invoice", b"<html>x</html>", "application/pdf",
                  "fake.pdf")[0] == 415

    [message] = replies(whatsapp, ASHA, "send me the invoice for ORD-10005", 1, quiet=2.0)
    assert message["type"] == "document" and message["document"]["filename"] == "INV-10005.pdf"
    assert message["document"]["caption"] == "📄 Invoice for ORD-10005"
    assert whatsapp.graph.fake.state.media[message["document"]["id"]] == (invoice, "application/pdf")

    before = len(uploads(whatsapp))
    theirs = replies(whatsapp, RAVI, "send me the invoice for ORD-10005", 2)
    replies(whatsapp, RAVI, "cancel", 2)
    assert "couldn't find ORD-10005" in body_text(theirs[0])
    assert all(m["type"] in ("text", "interactive") for m in whatsapp.graph.sent_to(RAVI))
    assert len(uploads(whatsapp)) == before


def test_another_company_gets_the_answer_of_a_missing_order_and_no_document(whatsapp):
    """Ravi asking for Asha's invoice reads exactly what a non-existent order gets, and receives no file."""
    before = len(uploads(whatsapp))
    theirs = replies(whatsapp, RAVI, "send me the invoice for ORD-10001", 2)
    replies(whatsapp, RAVI, "cancel", 2)
    missing = replies(whatsapp, RAVI, "send me the invoice for ORD-99999", 2)

    assert "couldn't find ORD-10001" in body_text(theirs[0])
    assert [str(seen(m)).replace("ORD-10001", "ORD-99999") for m in theirs] == [str(seen(m)) for m in missing]
    assert all(m["type"] in ("text", "interactive") for m in whatsapp.graph.sent_to(RAVI))
    assert "Cotton yarn 40s" not in str(whatsapp.graph.sent_to(RAVI))
    assert len(uploads(whatsapp)) == before


def test_a_missing_document_is_said_with_the_offer_of_a_person(whatsapp):
    """ORD-10002 has no invoice yet: Hinglish "ka bill bhejo" gets the say-so, then "talk to a person?" buttons."""
    before = len(uploads(whatsapp))
    said, offer = replies(whatsapp, ASHA, "ORD-10002 ka bill bhejo", 2)
    assert body_text(said) == "I don't have the invoice for ORD-10002 here yet. Our accounts team can send it to you."
    assert body_text(offer) == "Would you like to talk to a person now?"
    assert titles(offer) == ["1. Yes, a person", "2. No, thanks"]
    assert len(uploads(whatsapp)) == before


def test_the_orders_menu_asks_for_the_order_and_the_document(whatsapp):
    """Orders, "4", the order id and "2" (packing list) bring ORD-10001's packing list as a document."""
    start = len(whatsapp.graph.sent_to(ASHA))
    assert whatsapp.post(delivery(list_reply(ASHA, "/menu_orders", "1. Check Order Status")))[0] == 200
    [menu] = whatsapp.settled(ASHA, start + 1, quiet=1.0)[start:]
    assert titles(menu)[3] == "4. Documents"
    [asked] = replies(whatsapp, ASHA, "4", 1)
    assert "Which order do you need a document for?" in body_text(asked)
    [kinds] = replies(whatsapp, ASHA, "ORD-10001", 1)
    assert "Which document of ORD-10001" in body_text(kinds)
    assert titles(kinds) == ["1. Invoice", "2. Packing list", "3. Test certificate"]
    [document] = replies(whatsapp, ASHA, "2", 1, quiet=2.0)
    assert document["type"] == "document" and document["document"]["caption"] == "📄 Packing list for ORD-10001"
