"""Staff inbox settings, read from the environment only.

STAFF_COOKIE_SECURE=1 marks the session cookie Secure (set it behind TLS; browsers then never send it
over plain HTTP). STAFF_SESSION_HOURS bounds a session's life. Login attempts are limited per
username and per client address over STAFF_LOGIN_WINDOW_MINUTES. STAFF_TEMPLATES lists the templates
staff may send when the customer's 24-hour window is closed (`name` or `name:language`, comma
separated); by default the channel's WHATSAPP_REENGAGEMENT_TEMPLATE. MARKETING_TEMPLATES (the operator
API's setting) names the marketing ones, which a number that stopped marketing messages never gets.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping, Optional

from connectors.settings import ConfigError, positive_int, positive_number

TEMPLATE = re.compile(r"^([a-z0-9_]{1,512})(?::([A-Za-z]{2,3}(?:_[A-Za-z0-9]{2,8})?))?$")


@dataclass(frozen=True)
class OfferedTemplate:
    """A template the page offers when the window is closed."""

    name: str
    language: str = "en"


@dataclass(frozen=True)
class StaffConfig:
    """Everything the staff channel needs."""

    cookie_secure: bool = False
    session_ttl: timedelta = timedelta(hours=12)
    login_window: timedelta = timedelta(minutes=15)
    max_failures_per_user: int = 5
    max_failures_per_ip: int = 20
    templates: tuple[OfferedTemplate, ...] = ()
    marketing_templates: frozenset[str] = frozenset()
    poll_seconds: float = 3.0  # how often the page asks for news

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> StaffConfig:
        """Build the settings from STAFF_* (and WHATSAPP_REENGAGEMENT_TEMPLATE) variables."""
        env = environ if environ is not None else os.environ
        secure = (env.get("STAFF_COOKIE_SECURE") or "0").strip().lower()
        if secure not in ("0", "1", "true", "false", "yes", "no"):
            raise ConfigError("STAFF_COOKIE_SECURE must be 1 or 0")
        return cls(
            cookie_secure=secure in ("1", "true", "yes"),
            session_ttl=timedelta(hours=positive_number(env.get("STAFF_SESSION_HOURS"), "STAFF_SESSION_HOURS", 12.0)),
            login_window=timedelta(minutes=positive_number(env.get("STAFF_LOGIN_WINDOW_MINUTES"),
                                                           "STAFF_LOGIN_WINDOW_MINUTES", 15.0)),
            max_failures_per_user=positive_int(env.get("STAFF_LOGIN_MAX_FAILURES_PER_USER"),
                                               "STAFF_LOGIN_MAX_FAILURES_PER_USER", 5),
            max_failures_per_ip=positive_int(env.get("STAFF_LOGIN_MAX_FAILURES_PER_IP"),
                                             "STAFF_LOGIN_MAX_FAILURES_PER_IP", 20),
            templates=templates_of(env),
            marketing_templates=marketing_templates_of(env),
        )


def templates_of(env: Mapping[str, str]) -> tuple[OfferedTemplate, ...]:
    """Return STAFF_TEMPLATES, or the re-engagement template, as offered templates."""
    raw = (env.get("STAFF_TEMPLATES") or "").strip()
    if not raw:
        name = (env.get("WHATSAPP_REENGAGEMENT_TEMPLATE") or "").strip()
        language = (env.get("WHATSAPP_REENGAGEMENT_LANGUAGE") or "").strip() or "en"
        raw = f"{name}:{language}" if name else ""
    offered = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        match = TEMPLATE.match(part)
        if match is None:
            raise ConfigError("STAFF_TEMPLATES must list template names (lowercase, digits, _) with an "
                              "optional :language, e.g. hello_again:en")
        offered.append(OfferedTemplate(match.group(1), match.group(2) or "en"))
    return tuple(offered)


def marketing_templates_of(env: Mapping[str, str]) -> frozenset[str]:
    """Return the template names MARKETING_TEMPLATES lists, or fail naming the variable."""
    names = frozenset(part.strip() for part in (env.get("MARKETING_TEMPLATES") or "").split(",") if part.strip())
    if any(TEMPLATE.match(name) is None or ":" in name for name in names):
        raise ConfigError("MARKETING_TEMPLATES must list template names (lowercase letters, digits, underscores)")
    return names
