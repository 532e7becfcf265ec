"""The business's own data: the data API channel, its validation, upserts and the CSV importer.

credentials.yml key: connectors.data.DataInput (mounted at /api/data).
"""
from __future__ import annotations

from typing import Any

from connectors import redact

redact.install()  # rasa run imports this package to load credentials.yml: mask every log line from now on

__all__ = ["DataInput"]


def __getattr__(name: str) -> Any:
    """Import the channel (and Rasa) only when asked, so the seed and the importer stay light."""
    if name in __all__:
        from connectors.data import channel

        return getattr(channel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
