"""Log redaction: what a log line keeps and what it hides (connectors/redact.py)."""
from __future__ import annotations

import io
import logging
import secrets
import sys
from typing import Iterator

import pytest

from connectors import redact
from connectors.redact import mask_number, mask_text, secret_values

TOKEN = "EAAG" + secrets.token_hex(10)  # shaped like a Graph access token, made fresh


@pytest.mark.parametrize(("line", "expected"), [
    ("sender_id=919800000001", "sender_id=91980*****01"),
    ("Tracker with sender_id '919800000002' stored", "Tracker with sender_id '91980*****02' stored"),
    ('{"to": "+919800000009"}', '{"to": "+91980*****09"}'),
    ("GET /api/whatsapp/messages?wa_id=%2B919800000001", "GET /api/whatsapp/messages?wa_id=%2B91980*****01"),
    ("POST /api/whatsapp/handoffs/919800000001/reply", "POST /api/whatsapp/handoffs/91980*****01/reply"),
    ("lock:919800000099 acquired", "lock:91980*****99 acquired"),
    ("conversation_919800000001", "conversation_91980*****01"),
    ("US 15550001234 and 10 digits 9800000001", "US 15550****34 and 10 digits 98000***01"),
    ("wamid.test12abcdef9876543210123456ff", "wamid.test12abcdef9876543210123456ff"),
    ("wamid.SIM0123456789012ABCDEF", "wamid.SIM0123456789012ABCDEF"),
    ("timestamp 1764000000.123456", "timestamp 1764000000.123456"),
    ("ORD-10001 row=123456789 16 digits 1234567890123456", "ORD-10001 row=123456789 16 digits 1234567890123456"),
], ids=["key-value", "rasa-debug", "plus-json", "url-encoded-plus", "url-path", "lock-key", "underscore",
        "lengths", "wamid-hex", "wamid-sim", "float-timestamp", "short-and-long-runs"])
def test_full_phone_numbers_are_masked_and_ids_kept(line: str, expected: str) -> None:
    """A 10-15 digit number shows its first 5 and last 2 digits; wamids, floats and other ids stay readable."""
    assert mask_text(line) == expected
    assert mask_text(expected) == expected  # masking twice (record, then line) changes nothing more


@pytest.mark.parametrize(("line", "expected"), [
    (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer ***"),
    (f"{{'Authorization': 'Bearer {TOKEN}'}}", "{'Authorization': 'Bearer ***'}"),
    ('{"Authorization": "Basic dXNlcjpwYXNz"}', '{"Authorization": "***"}'),
    (f"GET /v25.0/123/media?access_token={TOKEN}&x=1", "GET /v25.0/123/media?access_token=***&x=1"),
    ("GET /webhooks/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=abc123XYZ&hub.challenge=42",
     "GET /webhooks/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=***&hub.challenge=42"),
    ("WHATSAPP_APP_SECRET=0f9e8d7c6b", "WHATSAPP_APP_SECRET=***"),
    ("postgresql+psycopg2://acme:pa55w0rd@127.0.0.1:5432/acme", "postgresql+psycopg2://acme:***@127.0.0.1:5432/acme"),
    ("redis://:s3cret-pw@127.0.0.1:6379/1", "redis://:***@127.0.0.1:6379/1"),
], ids=["bearer-header", "bearer-dict", "basic-json", "access-token-query", "verify-token-query", "env-dump",
        "database-url", "redis-url"])
def test_credentials_are_masked_by_shape(line: str, expected: str) -> None:
    """Bearer tokens, Authorization values, token=/secret= values and URL passwords are hidden."""
    assert mask_text(line) == expected
    assert mask_text(expected) == expected


@pytest.mark.parametrize("line", [
    "whatsapp.send.token_expired code=190 failures=1 hold=30s action=renew WHATSAPP_API_TOKEN; messages stay queued",
    "whatsapp.webhook.rejected reason=invalid_signature",
    "http://127.0.0.1:5005/webhooks/whatsapp/webhook",
    "my secret order question",
], ids=["token-alarm", "rejection", "url-with-port", "prose"])
def test_ordinary_lines_are_unchanged(line: str) -> None:
    """Event keys, URLs without credentials and prose pass through as they are."""
    assert mask_text(line) == line


def test_exact_secret_values_are_masked_wherever_they_appear() -> None:
    """A configured secret is hidden even inside other text, longest value first, and short values are ignored."""
    line = f"body={TOKEN}xyz prefix{TOKEN[:-3]} ab"
    assert mask_text(line, [TOKEN, TOKEN[:-3], "ab"]) == "body=***xyz prefix*** ab"


def test_secret_values_come_from_the_secret_variables_and_url_passwords() -> None:
    """Secrets are read from the token and password variables and the passwords inside database URLs."""
    env = {
        "WHATSAPP_API_TOKEN": TOKEN, "WHATSAPP_APP_SECRET": " app-secret-1 ", "MANAGEMENT_API_TOKEN": "short",
        "DATABASE_URL": "postgresql://acme:p%40ss%2Fword@db/acme", "REDIS_PASSWORD": "redis-pw-9",
        "TRACKER_DB_URL": "not a url", "COMPANY_NAME": "ACME Manufacturing",
    }
    assert set(secret_values(env)) == {TOKEN, "app-secret-1", "p%40ss%2Fword", "p@ss/word", "redis-pw-9"}


def test_mask_number_keeps_length_and_sign() -> None:
    """The masked number has the original length, so different numbers stay distinguishable."""
    assert mask_number("919800000001") == "91980*****01"
    assert mask_number("+15550001234") == "+15550****34"
    assert mask_number("919800000001") != mask_number("919800000002")


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger at DEBUG writing formatted lines to a buffer, with the redaction installed and a secret set."""
    monkeypatch.setenv("MANAGEMENT_API_TOKEN", TOKEN)
    redact.install()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(request)s"))
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, buffer
    logger.removeHandler(handler)


def test_install_is_idempotent() -> None:
    """Installing again wraps nothing twice."""
    redact.install()
    factory, handler_format, hook = logging.getLogRecordFactory(), logging.Handler.format, sys.excepthook
    redact.install()
    assert redact.installed()
    assert (logging.getLogRecordFactory(), logging.Handler.format, sys.excepthook) == (factory, handler_format, hook)


def test_records_lines_extras_and_tracebacks_are_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    """The message with its args, an `extra=` field and an exception's text all come out masked."""
    logger, buffer = captured
    logger.debug("turn for %s with token %s", "919800000001", TOKEN, extra={"request": "GET /x?wa_id=919800000002"})
    try:
        raise KeyError(f"919800000009 {TOKEN}")
    except KeyError:
        logger.exception("failed", extra={"request": "-"})
    text = buffer.getvalue()
    assert "91980*****01" in text and "91980*****02" in text and "91980*****09" in text
    assert "9198000000" not in text and TOKEN not in text
    assert "Traceback" in text and "KeyError" in text


def test_a_record_reads_masked_for_anyone_holding_it(captured: tuple[logging.Logger, io.StringIO]) -> None:
    """Code that reads the record itself (caplog, error reporters) sees the masked message too."""
    logger, _ = captured
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "sender %s", ("919800000001",), None)
    assert record.getMessage() == "sender 91980*****01"


def test_uncaught_exceptions_print_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """An exception nobody caught prints its traceback with the number masked."""
    redact.install()
    try:
        raise RuntimeError("no route for 919800000001")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert "91980*****01" in capsys.readouterr().err


def test_a_broken_log_call_still_does_not_raise(captured: tuple[logging.Logger, io.StringIO]) -> None:
    """A format that does not match its args is reported by logging on emit, never raised to the caller."""
    logger, _ = captured
    logging.raiseExceptions, before = False, logging.raiseExceptions
    try:
        logger.debug("%s and %s", "919800000001")
    finally:
        logging.raiseExceptions = before
