"""Local calendar for the assistant; the database itself stores naive UTC."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


def assistant_timezone() -> ZoneInfo:
    """Return the zone that decides what "today" means for users."""
    return ZoneInfo(os.environ.get("ASSISTANT_TIMEZONE", "Asia/Kolkata"))


def utcnow() -> datetime:
    """Return the current time as naive UTC, the form stored in every column."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_naive_utc(moment: datetime) -> datetime:
    """Return `moment` as naive UTC; naive input is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def local_today() -> date:
    """Return today's date in the assistant's timezone."""
    return datetime.now(assistant_timezone()).date()


def local_to_utc(day: date, at: time) -> datetime:
    """Return the naive UTC instant of local wall-clock time `at` on `day`."""
    return to_naive_utc(datetime.combine(day, at, tzinfo=assistant_timezone()))


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the naive UTC [start, end) of the local calendar day `day`."""
    return local_to_utc(day, time.min), local_to_utc(day + timedelta(days=1), time.min)
