"""WhatsApp Cloud API channel for Rasa; credentials.yml key: connectors.whatsapp.WhatsAppInput."""
from __future__ import annotations

from typing import Any

from connectors import redact

redact.install()  # rasa run imports this package to load credentials.yml: mask every log line from now on

__all__ = ["WhatsAppInput", "WhatsAppOutput"]


def __getattr__(name: str) -> Any:
    """Import the channel (and Rasa) only when asked, so the pure modules stay light to import."""
    if name in __all__:
        from connectors.whatsapp import channel

        return getattr(channel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
