"""Data API settings, read from the environment only.

DATA_API_TOKEN switches the API on: without it every route answers 404 `api_disabled`. It is a
machine's token (the ERP's, an integration's), separate from the operators' MANAGEMENT_API_TOKEN,
which the data API refuses with 403; the two must differ.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

from connectors.settings import ConfigError

MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class DataConfig:
    """The data API's token and the staff token it must refuse; both left out of repr."""

    api_token: Optional[str] = field(default=None, repr=False)
    staff_token: Optional[str] = field(default=None, repr=False)

    @property
    def api_enabled(self) -> bool:
        """Return True when a data token is configured."""
        return bool(self.api_token)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> DataConfig:
        """Build the settings from DATA_API_TOKEN and MANAGEMENT_API_TOKEN."""
        env = environ if environ is not None else os.environ
        token = (env.get("DATA_API_TOKEN") or "").strip() or None
        staff = (env.get("MANAGEMENT_API_TOKEN") or "").strip() or None
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"DATA_API_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")
        if token is not None and token == staff:
            raise ConfigError("DATA_API_TOKEN must differ from MANAGEMENT_API_TOKEN")
        return cls(api_token=token, staff_token=staff)
