"""Webhook authenticity: the X-Hub-Signature-256 check and the GET verification challenge."""
from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from connectors.whatsapp.security import signature_for, verify_challenge, verify_signature

APP_SECRET = "test_app_secret_not_real"  # the secret shared/whatsapp/payloads/README.md uses
RAW_BODY = (Path(__file__).parents[1] / "fixtures" / "webhooks" / "text_non_ascii.raw.json").read_bytes()
RAW_DIGEST = "f4a22ec48c642f3ae255420b6fb732505ad6013022621df90165dfb35065235c"


def signed(body: bytes, secret: str = APP_SECRET) -> str:
    """Return the header Meta would send for body."""
    return signature_for(secret, body)


def test_raw_body_fixture_is_byte_exact() -> None:
    """The stored non-ASCII body is the 664-byte wire form the published digests were made from."""
    assert len(RAW_BODY) == 664 and RAW_BODY.isascii() and not RAW_BODY.endswith(b"\n")


@pytest.mark.parametrize(
    ("rebuild", "digest"),
    [
        (lambda raw: raw, RAW_DIGEST),
        (lambda raw: json.dumps(json.loads(raw)).encode(),
         "182fce6da33a5051fd789efb5c722f3fc1a57e7288d0e6beb660693300954277"),
        (lambda raw: json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode(),
         "87abaacca97cc8599f875f500c88d81438390743b6b9cff596dcf57ec6cbaf50"),
    ],
    ids=["raw_bytes", "python_default_dump", "compact_utf8_dump"],
)
def test_signature_matches_published_digests(rebuild, digest: str) -> None:
    """signature_for gives the digests in the payloads README for each way of producing the bytes."""
    assert signed(rebuild(RAW_BODY)) == "sha256=" + digest


def test_raw_body_signature_is_accepted() -> None:
    """A delivery signed over the raw bytes with the App Secret is accepted."""
    assert verify_signature(APP_SECRET, RAW_BODY, "sha256=" + RAW_DIGEST)


@pytest.mark.parametrize(
    "rebuilt",
    [
        json.dumps(json.loads(RAW_BODY)).encode(),
        json.dumps(json.loads(RAW_BODY), ensure_ascii=False, separators=(",", ":")).encode(),
    ],
    ids=["python_default_dump", "compact_utf8_dump"],
)
def test_reserialised_body_is_rejected(rebuilt: bytes) -> None:
    """Meta's signature does not survive parsing and re-dumping the body, so such a check fails."""
    assert not verify_signature(APP_SECRET, rebuilt, "sha256=" + RAW_DIGEST)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        RAW_DIGEST,  # no prefix
        "sha1=" + hashlib.sha1(RAW_BODY).hexdigest(),
        "sha256=" + RAW_DIGEST[:-1],  # one hex digit short
        "sha256=" + RAW_DIGEST + "00",
        "sha256=" + "z" * 64,
        "sha256=" + "é" * 64,  # non-ASCII: compare_digest on str would raise TypeError
        "sha256=" + hmac.new(b"another_secret", RAW_BODY, hashlib.sha256).hexdigest(),
        "sha256=" + "0" * 64,
    ],
    ids=["missing", "empty", "prefix_only", "no_prefix", "sha1", "short", "long", "not_hex",
         "non_ascii", "other_secret", "zeros"],
)
def test_forged_or_malformed_signature_is_rejected(header: str | None) -> None:
    """Missing, malformed, non-ASCII or wrong signatures are refused without raising."""
    assert verify_signature(APP_SECRET, RAW_BODY, header) is False


def test_uppercase_hex_and_surrounding_spaces_are_accepted() -> None:
    """A proxy that upper-cases hex or pads the header does not lock Meta out."""
    assert verify_signature(APP_SECRET, RAW_BODY, "  sha256=" + RAW_DIGEST.upper() + " ")


def test_empty_app_secret_never_verifies() -> None:
    """With no App Secret configured nothing is accepted, even a matching empty-key signature."""
    assert not verify_signature("", RAW_BODY, signature_for("", RAW_BODY))


def test_tampered_body_is_rejected() -> None:
    """Changing one byte of a signed body makes the signature fail."""
    header = signed(RAW_BODY)
    assert not verify_signature(APP_SECRET, RAW_BODY.replace(b"Ol", b"OI"), header)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "s3cret", "hub.challenge": "1158201444"}, "1158201444"),
        ({"hub.mode": ["subscribe"], "hub.verify_token": ["s3cret"], "hub.challenge": ["42"]}, "42"),
        ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, None),
        ({"hub.mode": "unsubscribe", "hub.verify_token": "s3cret", "hub.challenge": "1"}, None),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, None),
        ({"hub.mode": "subscribe", "hub.verify_token": "s3cret"}, None),
        ({"hub.mode": "subscribe", "hub.verify_token": "sé3cret", "hub.challenge": "1"}, None),
        ({}, None),
    ],
    ids=["valid", "list_values", "wrong_token", "wrong_mode", "no_token", "no_challenge",
         "non_ascii_token", "empty"],
)
def test_verification_challenge(params: dict, expected: str | None) -> None:
    """Meta's dashboard gets its challenge back only for mode subscribe with the right token."""
    assert verify_challenge(params, "s3cret") == expected


def test_challenge_refused_when_no_verify_token_is_configured() -> None:
    """An unset verify token never verifies, even against an empty hub.verify_token."""
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert verify_challenge(params, "") is None
