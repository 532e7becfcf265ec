"""Numbers from the environment, shared by the channels' config modules (pure).

A bad value stops the channel at start-up with a message naming the variable, never a traceback
later: "nan" and "inf" parse as floats, so they are refused here too.
"""
from __future__ import annotations

import math
from typing import Optional

from rasa.shared.exceptions import RasaException


class ConfigError(RasaException):
    """A channel cannot start: a setting is missing or invalid (the message names it)."""


def positive_number(raw: Optional[str], name: str, default: float, allow_zero: bool = False) -> float:
    """Return a finite number above 0 (or 0 itself when allowed); unset or blank gives default."""
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be {'0 or above' if allow_zero else 'above 0'}")
    return value


def positive_int(raw: Optional[str], name: str, default: int) -> int:
    """Return a whole number above 0; unset or blank gives default."""
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number") from None
    if value <= 0:
        raise ConfigError(f"{name} must be above 0")
    return value
