"""Management channel settings, read from the environment only.

MANAGEMENT_API_TOKEN switches the API on: without it every API route answers 404 `api_disabled`
(the routes stay registered so the answer is explicit). Handoff hand-back and notifications run
either way, since they serve customers rather than the API. MARKETING_TEMPLATES names the approved
templates Meta categorised as MARKETING; /send refuses them to a number that stopped marketing.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

from connectors.settings import ConfigError, positive_number

MIN_TOKEN_LENGTH = 16
DEFAULT_IDLE_MINUTES = 30.0
DEFAULT_SCAN_SECONDS = 60.0
TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")  # Meta's template names


@dataclass(frozen=True)
class ManagementConfig:
    """Everything the management channel needs; the token is left out of repr."""

    api_token: Optional[str] = field(default=None, repr=False)
    handoff_idle_minutes: float = DEFAULT_IDLE_MINUTES
    notify_scan_seconds: float = DEFAULT_SCAN_SECONDS  # 0 turns notifications off
    notify_template: Optional[str] = None
    notify_template_language: str = "en"
    tracker_db_url: Optional[str] = field(default=None, repr=False)  # else the agent's SQL tracker store
    marketing_templates: frozenset[str] = frozenset()  # templates of Meta's category MARKETING

    @property
    def api_enabled(self) -> bool:
        """Return True when a token is configured."""
        return bool(self.api_token)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> ManagementConfig:
        """Build the settings from MANAGEMENT_API_TOKEN, HANDOFF_IDLE_MINUTES, NOTIFY_*, TRACKER_DB_URL and
        MARKETING_TEMPLATES."""
        env = environ if environ is not None else os.environ
        token = (env.get("MANAGEMENT_API_TOKEN") or "").strip() or None
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"MANAGEMENT_API_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")
        return cls(
            api_token=token,
            handoff_idle_minutes=positive_number(env.get("HANDOFF_IDLE_MINUTES"), "HANDOFF_IDLE_MINUTES",
                                                 DEFAULT_IDLE_MINUTES),
            notify_scan_seconds=positive_number(env.get("NOTIFY_SCAN_SECONDS"), "NOTIFY_SCAN_SECONDS",
                                                DEFAULT_SCAN_SECONDS, allow_zero=True),
            notify_template=(env.get("NOTIFY_TEMPLATE") or "").strip() or None,
            notify_template_language=(env.get("NOTIFY_TEMPLATE_LANGUAGE") or "").strip() or "en",
            tracker_db_url=(env.get("TRACKER_DB_URL") or "").strip() or None,
            marketing_templates=_template_names(env, "MARKETING_TEMPLATES"),
        )


def _template_names(env: Mapping[str, str], name: str) -> frozenset[str]:
    """Return a comma-separated list of template names, or fail naming the variable."""
    names = frozenset(part.strip() for part in (env.get(name) or "").split(",") if part.strip())
    for template in names:
        if not TEMPLATE_NAME.fullmatch(template):
            raise ConfigError(f"{name} must list template names (lowercase letters, digits, underscores)")
    return names
