"""Pure parsing of API input: numbers, limits, cursors and dates."""
from __future__ import annotations

from datetime import datetime

import pytest

from connectors.management.channel import authorized
from connectors.management.inputs import (BadRequest, decode_cursor, encode_cursor, limit_of, moment_of,
                                          wa_id_of, window_of)

NOW = datetime(2026, 11, 24, 12, 0, 0)


@pytest.mark.parametrize(("given", "digits"), [("919800000001", "919800000001"), ("+919800000001", "919800000001"),
                                               (" 15550001111 ", "15550001111")])
def test_numbers_are_e164_digits(given, digits):
    """A number with or without + becomes its digits."""
    assert wa_id_of(given) == digits


@pytest.mark.parametrize("given", [None, 919800000001, "", "+", "0919800000001", "91 98000 00001", "12345",
                                   "1234567890123456", "91980000000a"])
def test_other_numbers_are_refused(given):
    """Anything but 7 to 15 digits not starting with 0 is invalid_wa_id."""
    with pytest.raises(BadRequest) as raised:
        wa_id_of(given)
    assert raised.value.code == "invalid_wa_id"


@pytest.mark.parametrize(("raw", "value"), [(None, 50), ("1", 1), ("200", 200), (["7", "9"], 7)])
def test_limits(raw, value):
    """The limit defaults, and takes the first of repeated values."""
    assert limit_of({} if raw is None else {"limit": raw}, 50, 200) == value


def test_a_cursor_round_trips_with_microseconds():
    """A cursor gives back exactly the datetime and ids it was made from."""
    moment = datetime(2026, 11, 24, 10, 0, 0, 123456)
    assert decode_cursor(encode_cursor(moment, 1, 42), (datetime, int, int), "before") == (moment, 1, 42)


@pytest.mark.parametrize("cursor", ["!!", "e30", encode_cursor("x", 1, 2), encode_cursor(NOW, True, 1),
                                    encode_cursor(NOW, 1), "WzFd"])
def test_malformed_cursors_are_invalid_cursor(cursor):
    """Garbage, the wrong shape or wrong types are refused, never a server error."""
    with pytest.raises(BadRequest) as raised:
        decode_cursor(cursor, (datetime, int, int), "before")
    assert raised.value.code == "invalid_cursor"


@pytest.mark.parametrize(("raw", "moment"), [("2026-11-01", datetime(2026, 11, 1)),
                                             ("2026-11-01T10:30:00Z", datetime(2026, 11, 1, 10, 30)),
                                             ("2026-11-01T16:00:00+05:30", datetime(2026, 11, 1, 10, 30))])
def test_dates_become_naive_utc(raw, moment):
    """Dates and date-times with any offset become naive UTC."""
    assert moment_of({"since": raw}, "since") == moment


@pytest.mark.parametrize("query", [{"since": "yesterday"}, {"since": "2026-13-01"}, {"until": "2026-11-01T25:00"},
                                   {"since": "2026-11-02", "until": "2026-11-01"}])
def test_bad_windows_are_invalid_date(query):
    """Unparseable dates and a window that ends before it starts are refused."""
    with pytest.raises(BadRequest) as raised:
        window_of(query, NOW)
    assert raised.value.code == "invalid_date"


@pytest.mark.parametrize(("header", "ok"), [("Bearer s3cret-token-value", True), ("bearer s3cret-token-value", True),
                                            ("Bearer  s3cret-token-value ", True), ("Bearer s3cret", False),
                                            ("s3cret-token-value", False), (None, False), ("Bearer", False)])
def test_bearer_header(header, ok):
    """Only the bearer scheme with the exact token passes (the scheme's case does not matter)."""
    assert authorized(header, "s3cret-token-value") is ok
