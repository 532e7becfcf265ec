"""Photos and documents over WhatsApp with the real assistant: fetched only at the defect photo step, within the cap."""
from __future__ import annotations

import re
import sqlite3
import time
from typing import Any

from tests.connectors.whatsapp_support import delivery, message, text
from tests.e2e.whatsapp_fixtures import WhatsAppStack, body_text, whatsapp  # noqa: F401

ASHA, BHARAT, STAFF = "919800000001", "919800000002", "919800000009"
DESCRIPTION = "20 cones have water stains"
ASK_PHOTO = "Please send a photo of the defect"
TOO_LARGE = "That file is too large (max 10 MB). Please send a smaller photo."


def exchange(whatsapp: WhatsAppStack, wa_id: str, body: dict[str, Any], expect: str,
             timeout: float = 30.0) -> list[str]:
    """Post one delivery and wait until a new reply contains expect; return the new replies' texts."""
    before = len(whatsapp.graph.sent_to(wa_id))
    assert whatsapp.post(body) == (200, {"status": "ok"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = [body_text(m) for m in whatsapp.graph.sent_to(wa_id)[before:]]
        if any(expect in r for r in replies):
            return replies
        time.sleep(0.05)
    got = [body_text(m) for m in whatsapp.graph.sent_to(wa_id)[before:]]
    raise AssertionError(f"no reply with {expect!r}; got {got}")


def to_photo_step(whatsapp: WhatsAppStack, wa_id: str) -> None:
    """Open the defect form and answer up to its photo question."""
    exchange(whatsapp, wa_id, delivery(text(wa_id, "/menu_defects")), "Defects")
    exchange(whatsapp, wa_id, delivery(text(wa_id, "1")), "Which order")
    exchange(whatsapp, wa_id, delivery(text(wa_id, "1")), "What is wrong?")
    exchange(whatsapp, wa_id, delivery(text(wa_id, DESCRIPTION)), ASK_PHOTO)


def image(wa_id: str, media_id: str) -> dict[str, Any]:
    """Return a delivery carrying one photo (no caption) from wa_id."""
    _, template = message("media", "image", wa_id)
    fields = {k: v for k, v in template["image"].items() if k != "caption"}
    return delivery(message("media", "image", wa_id, image={**fields, "id": media_id}))


def media_fetches(whatsapp: WhatsAppStack, media_id: str) -> list[str]:
    """Return the paths of the stand-in's lookups and downloads of media_id."""
    return [r.path for r in whatsapp.graph.fake.media_requests(media_id)]


def test_a_photo_at_the_photo_step_is_downloaded_and_attached_to_the_report(whatsapp):
    """Asha's photo at the photo question is saved, shown as attached, and filed with the DEF report."""
    to_photo_step(whatsapp, ASHA)
    whatsapp.graph.fake.add_media("5501", b"\xff\xd8 stained cones", "image/jpeg")
    summary = exchange(whatsapp, ASHA, image(ASHA, "5501"), "Photo: attached")
    assert any("Please check your defect report" in r for r in summary)
    done = exchange(whatsapp, ASHA, delivery(text(ASHA, "yes")), "logged")
    ref = re.search(r"DEF-\d{4}", done[-1]).group(0)
    saved = whatsapp.stack.workdir / "media" / "5501.jpg"
    assert saved.read_bytes() == b"\xff\xd8 stained cones"
    with sqlite3.connect(whatsapp.stack.db_url.removeprefix("sqlite:///")) as db:
        [(photo_ref,)] = db.execute("SELECT photo_ref FROM defect_reports WHERE ref = ?", (ref,)).fetchall()
    assert photo_ref == str(saved)


def test_an_oversized_photo_is_refused_and_the_form_asks_again(whatsapp):
    """An 11 MB photo at the photo question gets the size answer and the question again; nothing is stored."""
    to_photo_step(whatsapp, BHARAT)
    whatsapp.graph.fake.add_sized_media("5502", 11 * 1024 * 1024, "image/jpeg")
    replies = exchange(whatsapp, BHARAT, image(BHARAT, "5502"), ASK_PHOTO)
    assert replies == [TOO_LARGE, replies[-1]] and ASK_PHOTO in replies[-1]
    assert media_fetches(whatsapp, "5502") == [f"/{whatsapp.graph.fake.state.version}/5502"]  # size only
    assert not (whatsapp.stack.workdir / "media" / "5502.jpg").exists()


def test_documents_outside_any_form_get_the_usual_answer_and_are_never_fetched(whatsapp):
    """Documents sent from the main menu each get the assistant's answer; none is looked up or downloaded."""
    for n in range(3):
        media_id = f"560{n}"
        whatsapp.graph.fake.add_sized_media(media_id, 90 * 1024 * 1024, "application/pdf")
        _, template = message("media", "document", STAFF)
        body = delivery(message("media", "document", STAFF, document={**template["document"], "id": media_id}))
        assert exchange(whatsapp, STAFF, body, "")
        assert media_fetches(whatsapp, media_id) == []
    assert whatsapp.rows("whatsapp_inbound", f"wa_id = '{STAFF}' AND kind = 'document'") == 3
