"""Graph API failures map to exceptions that tell the sender whether to retry."""
from __future__ import annotations

import pickle
from typing import Any

import pytest

from connectors.whatsapp.errors import (
    AuthError,
    GraphError,
    PairRateLimitError,
    PermanentError,
    ReEngagementRequired,
    RetryableError,
    ThrottledError,
    TokenExpired,
)


def envelope(code: int, details: str | None = "details", subcode: int | None = None) -> dict[str, Any]:
    """Return Meta's error envelope for code, shaped like shared/whatsapp/payloads/graph_error_*.json."""
    error: dict[str, Any] = {"message": f"(#{code}) Title", "type": "OAuthException", "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "Hd1sRm8KqZ5yVb3nWx6LcoP"
    return {"error": error}


@pytest.mark.parametrize(
    ("code", "status", "cls", "retryable"),
    [
        (1, 500, RetryableError, True),
        (2, 503, RetryableError, True),
        (131000, 500, RetryableError, True),
        (131016, 503, RetryableError, True),
        (133004, 503, RetryableError, True),
        (131057, 400, ThrottledError, True),
        (130429, 400, ThrottledError, True),
        (80007, 400, ThrottledError, True),
        (4, 400, ThrottledError, True),
        (131056, 400, PairRateLimitError, True),
        (131047, 400, ReEngagementRequired, False),
        (100, 400, PermanentError, False),
        (131008, 400, PermanentError, False),
        (131009, 400, PermanentError, False),
        (131026, 400, PermanentError, False),
        (131049, 400, PermanentError, False),
        (131050, 400, PermanentError, False),
        (131051, 400, PermanentError, False),
        (133010, 400, PermanentError, False),
        (190, 401, TokenExpired, False),
        (0, 400, AuthError, False),
        (3, 400, AuthError, False),
        (10, 400, AuthError, False),
        (200, 403, AuthError, False),
        (294, 400, AuthError, False),
        (131005, 400, AuthError, False),
        (999999, 400, PermanentError, False),
        (999999, 502, RetryableError, True),
    ],
    ids=lambda v: str(v) if isinstance(v, int) else None,
)
def test_code_decides_retry(code: int, status: int, cls: type, retryable: bool) -> None:
    """Meta's code picks the exception class; an unknown code falls back on the HTTP status."""
    error = GraphError.from_response(status, envelope(code))
    assert type(error) is cls
    assert error.is_retryable is retryable


def test_code_wins_over_http_status() -> None:
    """A payload bug reported with HTTP 500 is still not retried (Meta: branch on code)."""
    assert not GraphError.from_response(500, envelope(100)).is_retryable


def test_envelope_fields_are_kept_for_the_log() -> None:
    """The error keeps code, details, subcode and trace id, and prints them on one line."""
    error = GraphError.from_response(400, envelope(130429, "Throughput exceeded.", subcode=2494055))
    assert (error.code, error.details, error.error_subcode, error.fbtrace_id, error.http_status) == (
        130429, "Throughput exceeded.", 2494055, "Hd1sRm8KqZ5yVb3nWx6LcoP", 400)
    assert str(error) == "[130429 / HTTP 400] (#130429) Title: Throughput exceeded."


def test_expired_token_without_error_data() -> None:
    """A generic Graph 190 without error_data is an AuthError with empty details."""
    error = GraphError.from_response(401, envelope(190, details=None, subcode=463))
    assert isinstance(error, AuthError) and isinstance(error, PermanentError) and error.details == ""


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [(502, "<html>Bad Gateway</html>", RetryableError), (429, None, ThrottledError),
     (401, {"unexpected": True}, AuthError), (404, {}, PermanentError)],
    ids=["proxy_502", "bare_429", "bare_401", "bare_404"],
)
def test_no_envelope_falls_back_on_http_status(status: int, body: Any, cls: type) -> None:
    """A body that is not Meta's envelope (a proxy page, nothing) is classified by HTTP status."""
    error = GraphError.from_response(status, body)
    assert type(error) is cls and error.code is None


def test_errors_survive_pickling() -> None:
    """A GraphError keeps its class and fields across processes."""
    error = GraphError.from_response(400, envelope(131047))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ReEngagementRequired and copy.code == 131047 and copy.details == "details"
