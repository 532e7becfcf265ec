"""Channel settings, read from WHATSAPP_* environment variables only.

A credentials.yml block may repeat a setting (`app_secret: ${WHATSAPP_APP_SECRET}`); its keys are the
variable names without the prefix, in lower case. There is no mode without a secret: start-up fails
with one message naming every missing variable (never a value).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from connectors.settings import ConfigError, positive_int, positive_number

PREFIX = "WHATSAPP_"
REQUIRED = (
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_BUSINESS_ACCOUNT_ID",
    "WHATSAPP_API_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_WEBHOOK_VERIFY_TOKEN",
)
DEFAULT_GRAPH_API_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
DEFAULT_MEDIA_DIR = "var/media"
DEFAULT_MAX_MPS = 80.0  # Meta's default throughput per business number
DEFAULT_TURN_TIMEOUT_SECONDS = 30.0  # a normal turn takes well under a second; a slow action server has 30 s
MB = 1024 * 1024
META_MEDIA_MAX_BYTES = 100 * MB  # Meta refuses inbound media above this (131052)
DEFAULT_MEDIA_MAX_BYTES = 10 * MB
DEFAULT_MEDIA_QUOTA_BYTES = 50 * MB
DEFAULT_MEDIA_RETENTION_DAYS = 90
DEFAULT_WEBHOOK_LOG_RETENTION_DAYS = 14
PACING_MODES = ("process", "redis")
DEFAULT_REDIS_PORT = 6379
PACING_REDIS_DB = 1  # the lock store's database in endpoints.production.yml; pacing keys have their own prefix


@dataclass(frozen=True)
class RedisSettings:
    """Where the shared pacer keeps its state: the lock store's Redis (REDIS_HOST, _PORT, _PASSWORD)."""

    host: str
    port: int = DEFAULT_REDIS_PORT
    password: Optional[str] = field(default=None, repr=False)
    db: int = PACING_REDIS_DB


@dataclass(frozen=True)
class WhatsAppConfig:
    """Everything the channel needs; secrets are left out of repr."""

    phone_number_id: str
    business_account_id: str
    api_token: str = field(repr=False)
    app_secret: str = field(repr=False)
    webhook_verify_token: str = field(repr=False)
    graph_api_url: str = DEFAULT_GRAPH_API_URL
    api_version: str = DEFAULT_API_VERSION
    media_dir: Path = Path(DEFAULT_MEDIA_DIR)
    max_mps: float = DEFAULT_MAX_MPS
    reengagement_template: Optional[str] = None
    reengagement_language: str = "en"
    # Run Rasa's turns on a thread of their own (default), so the webhook answers at once however
    # busy the assistant is. Set WHATSAPP_TURNS_IN_THREAD=false with an event broker bound to
    # Sanic's loop (Rasa's Pika broker); the SQL and Kafka brokers and the lock stores are fine.
    turns_in_thread: bool = True
    # Turns in flight at once (different senders; one sender's are always one at a time).
    turn_concurrency: int = 3
    # A Rasa turn that runs longer is cancelled and counts as a failed try (MAX_ATTEMPTS in worker.py).
    turn_timeout_seconds: float = DEFAULT_TURN_TIMEOUT_SECONDS
    # Media is downloaded only where a form step asks for it, up to this size and this many bytes
    # per sender in any 24 hours; files and the raw webhook log are deleted after their retention.
    media_max_bytes: int = DEFAULT_MEDIA_MAX_BYTES
    media_quota_bytes: int = DEFAULT_MEDIA_QUOTA_BYTES
    media_retention_days: int = DEFAULT_MEDIA_RETENTION_DAYS
    webhook_log_retention_days: int = DEFAULT_WEBHOOK_LOG_RETENTION_DAYS
    # WHATSAPP_PACING=redis: one pace per business number shared by every process (connectors/whatsapp/pacing.py);
    # None (process, the default): each process paces itself to max_mps.
    pacing_redis: Optional[RedisSettings] = None

    @property
    def graph_base(self) -> str:
        """Return the versioned Graph root, e.g. https://graph.facebook.com/v25.0."""
        return f"{self.graph_api_url.rstrip('/')}/{self.api_version.strip('/')}"

    @classmethod
    def from_env(
        cls, environ: Optional[Mapping[str, str]] = None, overrides: Optional[Mapping[str, Any]] = None
    ) -> WhatsAppConfig:
        """Build the settings from the environment, then from credentials.yml keys when given."""
        environ = environ if environ is not None else os.environ
        values = {k: str(v).strip() for k, v in environ.items() if k.startswith(PREFIX)}
        for key, value in (overrides or {}).items():
            if value is not None and str(value).strip():
                values[PREFIX + str(key).upper()] = str(value).strip()
        missing = [name for name in REQUIRED if not values.get(name)]
        if missing:
            raise ConfigError(
                "The WhatsApp channel needs these environment variables: " + ", ".join(missing)
            )
        max_mps = positive_number(values.get("WHATSAPP_MAX_MPS"), "WHATSAPP_MAX_MPS", DEFAULT_MAX_MPS)
        turn_concurrency = positive_int(values.get("WHATSAPP_TURN_CONCURRENCY"), "WHATSAPP_TURN_CONCURRENCY", 3)
        turn_timeout = positive_number(values.get("WHATSAPP_TURN_TIMEOUT_SECONDS"), "WHATSAPP_TURN_TIMEOUT_SECONDS",
                                        DEFAULT_TURN_TIMEOUT_SECONDS)
        media_max_bytes = positive_int(values.get("WHATSAPP_MEDIA_MAX_BYTES"), "WHATSAPP_MEDIA_MAX_BYTES",
                                        DEFAULT_MEDIA_MAX_BYTES)
        if media_max_bytes > META_MEDIA_MAX_BYTES:
            raise ConfigError(f"WHATSAPP_MEDIA_MAX_BYTES must be at most {META_MEDIA_MAX_BYTES} (Meta's limit)")
        pacing = (values.get("WHATSAPP_PACING") or PACING_MODES[0]).lower()
        if pacing not in PACING_MODES:
            raise ConfigError("WHATSAPP_PACING must be process or redis")
        return cls(
            phone_number_id=values["WHATSAPP_PHONE_NUMBER_ID"],
            business_account_id=values["WHATSAPP_BUSINESS_ACCOUNT_ID"],
            api_token=values["WHATSAPP_API_TOKEN"],
            app_secret=values["WHATSAPP_APP_SECRET"],
            webhook_verify_token=values["WHATSAPP_WEBHOOK_VERIFY_TOKEN"],
            graph_api_url=values.get("WHATSAPP_GRAPH_API_URL") or DEFAULT_GRAPH_API_URL,
            api_version=values.get("WHATSAPP_API_VERSION") or DEFAULT_API_VERSION,
            media_dir=Path(values.get("WHATSAPP_MEDIA_DIR") or DEFAULT_MEDIA_DIR),
            max_mps=max_mps,
            reengagement_template=values.get("WHATSAPP_REENGAGEMENT_TEMPLATE") or None,
            reengagement_language=values.get("WHATSAPP_REENGAGEMENT_LANGUAGE") or "en",
            turns_in_thread=_flag(values.get("WHATSAPP_TURNS_IN_THREAD"), True),
            turn_concurrency=turn_concurrency,
            turn_timeout_seconds=turn_timeout,
            media_max_bytes=media_max_bytes,
            media_quota_bytes=positive_int(values.get("WHATSAPP_MEDIA_QUOTA_BYTES"), "WHATSAPP_MEDIA_QUOTA_BYTES",
                                            DEFAULT_MEDIA_QUOTA_BYTES),
            media_retention_days=positive_int(values.get("WHATSAPP_MEDIA_RETENTION_DAYS"),
                                               "WHATSAPP_MEDIA_RETENTION_DAYS", DEFAULT_MEDIA_RETENTION_DAYS),
            webhook_log_retention_days=positive_int(values.get("WHATSAPP_WEBHOOK_LOG_RETENTION_DAYS"),
                                                     "WHATSAPP_WEBHOOK_LOG_RETENTION_DAYS",
                                                     DEFAULT_WEBHOOK_LOG_RETENTION_DAYS),
            pacing_redis=redis_settings(environ) if pacing == "redis" else None,
        )


def redis_settings(environ: Mapping[str, str]) -> RedisSettings:
    """Return the Redis the lock store uses, from REDIS_HOST, REDIS_PORT and REDIS_PASSWORD."""
    host = str(environ.get("REDIS_HOST") or "").strip()
    if not host:
        raise ConfigError("WHATSAPP_PACING=redis needs REDIS_HOST (and REDIS_PORT, REDIS_PASSWORD, as the lock store)")
    port = positive_int(environ.get("REDIS_PORT"), "REDIS_PORT", DEFAULT_REDIS_PORT)
    return RedisSettings(host, port, str(environ.get("REDIS_PASSWORD") or "") or None)


def _flag(value: Optional[str], default: bool) -> bool:
    """Return a yes/no setting: 1/true/yes/on or 0/false/no/off; unset gives default."""
    if value is None or not value.strip():
        return default
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError("WHATSAPP_TURNS_IN_THREAD must be true or false")
