"""No text a user can send makes the channel's or the actions' parsing take more than 50 ms.

Hypothesis builds hostile texts and every explicit worst case of tests/hostile.py is run too: the id
extractors of actions/parsing.py, log redaction, Graph error details, the webhook parser on a
delivery carrying the text, and rendering the text as a reply. Each call is timed on its own.
"""
from __future__ import annotations

from hypothesis import given

from actions.parsing import normalize_defect_id, normalize_order_id
from connectors.management.inputs import BadRequest, text_of, wa_id_of
from connectors.redact import mask_text
from connectors.whatsapp.errors import GraphError
from connectors.whatsapp.render import render_response
from connectors.whatsapp.updates import parse_delivery
from tests.connectors.whatsapp_support import delivery, text
from tests.hostile import HOSTILE_SETTINGS, hostile_texts, with_worst_cases, within_budget

WA_ID = "919800000001"


@HOSTILE_SETTINGS
@given(body=hostile_texts())
@with_worst_cases
def test_order_and_defect_ids_are_extracted_fast(body):
    """normalize_order_id and normalize_defect_id finish within 50 ms on any hostile text."""
    within_budget(normalize_order_id, body)
    within_budget(normalize_defect_id, body)


@HOSTILE_SETTINGS
@given(body=hostile_texts())
@with_worst_cases
def test_log_redaction_is_fast(body):
    """Masking a log line made of hostile text (twice over, as a long line) finishes within 50 ms."""
    within_budget(mask_text, body)
    within_budget(mask_text, f"whatsapp.inbound.failed text={body!r} token={body}")
    error = GraphError(131009, "Parameter value is not valid", 400, details=body)
    within_budget(lambda _: error.loggable_details, body)


@HOSTILE_SETTINGS
@given(body=hostile_texts())
@with_worst_cases
def test_a_delivery_with_hostile_text_is_parsed_and_answered_fast(body):
    """The webhook parses a delivery carrying the text, and a reply quoting it renders, within 50 ms each."""
    parsed = within_budget(parse_delivery, delivery(text(WA_ID, body)))
    storable = body.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")  # no NUL, no lone surrogate
    assert [m.text for m in parsed.messages] == [storable]
    rendered = within_budget(lambda t: render_response(WA_ID, {"text": t, "buttons": [
        {"title": t[:40] or "Menu", "payload": "/menu_main"}, {"title": "Back", "payload": "/menu_back"}]}), body)
    assert rendered.payloads


@HOSTILE_SETTINGS
@given(body=hostile_texts())
@with_worst_cases
def test_operator_api_inputs_are_checked_fast(body):
    """The operator API's text and number checks accept or refuse hostile input within 50 ms."""
    for check in (lambda value: text_of({"text": value}), lambda value: wa_id_of(value)):
        try:
            within_budget(check, body)
        except BadRequest:
            pass
