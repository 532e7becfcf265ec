"""Operator side of the WhatsApp assistant: the management API channel, handoff and notifications.

credentials.yml key: connectors.management.ManagementInput (mounted at /api/whatsapp).
"""
from __future__ import annotations

from typing import Any

from connectors import redact

redact.install()  # rasa run imports this package to load credentials.yml: mask every log line from now on

__all__ = ["ManagementInput"]


def __getattr__(name: str) -> Any:
    """Import the channel (and Rasa) only when asked, so importing handoff or notify stays light."""
    if name in __all__:
        from connectors.management import channel

        return getattr(channel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
