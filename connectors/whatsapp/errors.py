"""Graph API failures as exceptions grouped by what the caller should do.

Pick the class from Meta's `error.code` (never the message, subcode or HTTP status when a code is
present), so callers write `except ReEngagementRequired`, not `if code == 131047`.
Codes and actions: shared/whatsapp/README.md section 14.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

_LONG_NUMBER = re.compile(r"\+?\d[\d\s().-]{5,}\d")  # phone numbers (and other long ids) in free text
LOGGED_DETAILS_MAX = 160


@dataclass(eq=False)
class GraphError(Exception):
    """A failed Graph API call, built from Meta's error envelope."""

    code: int | None  # Meta's error.code; None when the body had no envelope (proxy page, timeout)
    message: str
    http_status: int = 0
    type: str = ""
    details: str = ""  # error.error_data.details: the part worth logging
    error_subcode: int | None = None  # deprecated by Meta; never branch on it
    fbtrace_id: str = ""

    def __post_init__(self) -> None:
        """Fill Exception.args so tracebacks and loggers show the message."""
        Exception.__init__(self, self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with every field, not just args (dataclass __init__ needs them all)."""
        fields = (self.code, self.message, self.http_status, self.type, self.details,
                  self.error_subcode, self.fbtrace_id)
        return (self.__class__, fields)

    def __str__(self) -> str:
        """Return a log-safe one-liner: code, HTTP status, message and details."""
        detail = f": {self.details}" if self.details else ""
        return f"[{self.code} / HTTP {self.http_status}] {self.message}{detail}"

    @property
    def loggable_details(self) -> str:
        """Return details fit for an INFO+ log line: numbers masked, cut to 160 characters."""
        return _LONG_NUMBER.sub("<number>", " ".join(self.details.split()))[:LOGGED_DETAILS_MAX]

    @property
    def is_retryable(self) -> bool:
        """Return True if sending the same payload again later may succeed."""
        return isinstance(self, RetryableError)

    @classmethod
    def from_response(cls, status: int, body: Any) -> GraphError:
        """Build the subclass matching Meta's code (or the HTTP status when there is no envelope)."""
        error = body.get("error") if isinstance(body, Mapping) else None
        if not isinstance(error, Mapping):
            return _class_for_status(status)(None, f"HTTP {status} without a Graph error body", status)
        code = _as_int(error.get("code"))
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, Mapping) else None
        return error_class(code, status)(
            code=code,
            message=str(error.get("message") or ""),
            http_status=status,
            type=str(error.get("type") or ""),
            details=str(details or ""),
            error_subcode=_as_int(error.get("error_subcode")),
            fbtrace_id=str(error.get("fbtrace_id") or ""),
        )


class RetryableError(GraphError):
    """A temporary failure: retry with exponential backoff and jitter."""


class NetworkError(RetryableError):
    """No usable answer from Graph (connection refused, reset or timed out): Meta may or may not have acted."""


class ThrottledError(RetryableError):
    """Throughput or call-rate limit, or the number in maintenance (130429, 131057, 80007, 4): hold the
    whole queue for the number."""


class PairRateLimitError(RetryableError):
    """Too many messages to one user (131056): delay only that recipient, 4^attempt seconds."""


class PermanentError(GraphError):
    """The request will never succeed as is: log details once, do not retry."""


class ReEngagementRequired(PermanentError):
    """The 24 h customer-service window is closed (131047): send an approved template instead."""


class AuthError(PermanentError):
    """The token or permissions are wrong (190, 0, 3, 10, 200-299, 131005): alert an operator."""


class TokenExpired(AuthError):
    """The access token expired or was revoked (190): hold every send until a new token works."""


_BY_CODE: dict[int, type[GraphError]] = {
    # Temporary server problems and "unknown error" (retry a few times).
    **dict.fromkeys((1, 2, 131000, 131016, 133004), RetryableError),
    # Over the number's throughput, or the number in maintenance (about a minute): every send would fail.
    **dict.fromkeys((4, 80007, 130429, 131057), ThrottledError),
    131056: PairRateLimitError,
    131047: ReEngagementRequired,
    **dict.fromkeys((0, 3, 10, 131005), AuthError),
    190: TokenExpired,
    # Our payload, the user, the template or the account; listed so the intent is explicit.
    **dict.fromkeys(
        (100, 131008, 131009, 131026, 131045, 131048, 131049, 131050, 131051, 131052, 131053,
         133010, 130403, 131021, 131031, 131042, 368, 132000, 132001, 132012, 132015, 132016),
        PermanentError,
    ),
}


def error_class(code: int | None, http_status: int = 0) -> type[GraphError]:
    """Return the GraphError subclass for a Meta code; unknown codes fall back on the HTTP status."""
    if code is not None:
        if code in _BY_CODE:
            return _BY_CODE[code]
        if 200 <= code <= 299:  # the permission-error range
            return AuthError
    return _class_for_status(http_status)


def _class_for_status(status: int) -> type[GraphError]:
    """Return the class for a failure Meta gave no known code for: 5xx and 429 retry, rest permanent."""
    if status == 429:
        return ThrottledError
    if status >= 500:
        return RetryableError
    if status in (401, 403):
        return AuthError
    return PermanentError


def _as_int(value: Any) -> int | None:
    """Return value as an int, or None when it is missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
