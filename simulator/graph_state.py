"""What the Graph API stand-in remembers: recorded requests, failure knobs, closed windows, media.

Listeners (the simulator page's backend) hear about every /messages call the stand-in accepted.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

from simulator.graph_rules import http_status_for

DEFAULT_VERSION = "v25.0"
DEFAULT_TOKEN = "test-access-token"
DEFAULT_PHONE_NUMBER_ID = "109876543210"  # the number in shared/whatsapp/payloads
HANG = (0, 0)  # sentinel fault: sleep past the client's timeout
_CODE_FOR_STATUS = {503: 2, 429: 4}  # Meta code sent with a bare injected HTTP status


@dataclass
class Record:
    """One request the fake received, accepted or not."""

    time: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0  # 0 while the request is still being answered
    response: Any = None


@dataclass
class Knobs:
    """Failure settings changed by tests (`POST /_test/fail` or FakeGraph methods)."""

    fail_next: int = 0  # fail the next N calls ...
    fail_status: int = 500  # ... with this HTTP status (when no code is given)
    fail_code: int | None = None  # ... or with this Meta error code
    fail_rate: float = 0.0  # fail this fraction of calls with a mix of 5xx and 130429
    latency_ms: int = 0  # added to every Graph call
    hang_next: int = 0  # the next N calls sleep hang_seconds (longer than a client timeout)
    hang_seconds: float = 30.0
    scope: str = "send"  # "send": only message sends; "all": also mark-read and media


@dataclass(frozen=True)
class SizedMedia:
    """Media of a given size, generated while it is served (never held in memory)."""

    size: int
    mime_type: str
    announce_size: bool = True  # file_size in the lookup answer
    send_length: bool = True  # Content-Length on the download (else chunked)


@dataclass
class GraphState:
    """Everything the fake remembers; reset between tests."""

    token: str
    phone_number_id: str
    version: str = DEFAULT_VERSION
    records: list[Record] = field(default_factory=list)
    knobs: Knobs = field(default_factory=Knobs)
    closed_windows: set[str] = field(default_factory=set)  # wa_ids whose 24 h window is closed
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    sized_media: dict[str, SizedMedia] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    counter: itertools.count = field(default_factory=itertools.count)
    listeners: list[Callable[[Record], None]] = field(default_factory=list)  # kept across reset()

    def notify(self, record: Record) -> None:
        """Tell every listener about an accepted /messages call (a send or a mark-as-read)."""
        for listener in list(self.listeners):
            listener(record)

    def new_media_id(self) -> str:
        """Return a fresh numeric media id, as Meta's are."""
        return str(10**15 + next(self.counter))

    def sent(self, to: str | None = None) -> list[dict[str, Any]]:
        """Return accepted message sends (not reads), optionally only those to one number."""
        wanted = digits(to) if to else None
        return [
            r.body for r in self.records
            if r.status == 200 and r.path.endswith("/messages") and "status" not in r.body
            and (wanted is None or digits(r.body.get("to") or r.body.get("recipient")) == wanted)
        ]

    def reset(self) -> None:
        """Forget requests, knobs, closed windows and media."""
        self.records.clear()
        self.knobs = Knobs()
        self.closed_windows.clear()
        self.media.clear()
        self.sized_media.clear()


STATE = web.AppKey("graph_state", GraphState)


def next_fault(state: GraphState) -> tuple[int, int] | None:
    """Return (HTTP status, Meta code) for an injected failure, HANG, or None to proceed."""
    knobs = state.knobs
    if knobs.hang_next > 0:
        knobs.hang_next -= 1
        return HANG
    if knobs.fail_next > 0:
        knobs.fail_next -= 1
        if knobs.fail_code is not None:
            return http_status_for(knobs.fail_code), knobs.fail_code
        fallback = 1 if knobs.fail_status >= 500 else 100
        return knobs.fail_status, _CODE_FOR_STATUS.get(knobs.fail_status, fallback)
    if knobs.fail_rate and state.rng.random() < knobs.fail_rate:
        return state.rng.choice([(500, 1), (503, 2), (400, 130429)])
    return None


def digits(value: Any) -> str:
    """Return only the digits of a phone number (a BSUID is returned unchanged)."""
    text = str(value or "")
    return text if any(ch.isalpha() for ch in text) else "".join(ch for ch in text if ch.isdigit())
