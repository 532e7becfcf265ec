"""Check that a webhook call comes from Meta: the POST signature and the GET challenge.

Pure functions: bytes and strings in, booleans out. See shared/whatsapp/README.md sections 2-3.
"""
from __future__ import annotations

import hmac
from typing import Any, Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = b"sha256="
_HEX_DIGITS = frozenset(b"0123456789abcdef")
_DIGEST_HEX_LEN = 64


def signature_for(app_secret: str, body: bytes) -> str:
    """Return the X-Hub-Signature-256 value Meta would send for these exact body bytes."""
    digest = hmac.digest(app_secret.encode("utf-8"), body, "sha256").hex()
    return _PREFIX.decode("ascii") + digest


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Return True only if header is `sha256=<hex>` of the raw body under the App Secret."""
    # Fail closed: no secret means nothing can be verified.
    if not app_secret or not isinstance(header, str) or not isinstance(body, (bytes, bytearray)):
        return False
    try:
        # The header is attacker-controlled; compare_digest on str raises for non-ASCII.
        given = header.strip().encode("ascii").lower()
    except UnicodeEncodeError:
        return False
    if not given.startswith(_PREFIX):
        return False
    given = given[len(_PREFIX):]
    if len(given) != _DIGEST_HEX_LEN or not set(given) <= _HEX_DIGITS:
        return False
    expected = hmac.digest(app_secret.encode("utf-8"), bytes(body), "sha256").hex()
    return hmac.compare_digest(expected.encode("ascii"), given)


def verify_challenge(params: Mapping[str, Any], verify_token: str) -> str | None:
    """Return hub.challenge when hub.mode is subscribe and hub.verify_token matches, else None."""
    mode = _first(params.get("hub.mode"))
    token = _first(params.get("hub.verify_token"))
    challenge = _first(params.get("hub.challenge"))
    if not verify_token or mode != "subscribe" or token is None or not challenge:
        return None
    if not hmac.compare_digest(token.encode("utf-8"), verify_token.encode("utf-8")):
        return None
    return challenge


def _first(value: Any) -> str | None:
    """Return the first string of a query value (plain str, or a list as parse_qs gives)."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value if isinstance(value, str) else None
