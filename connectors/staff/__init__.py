"""The staff inbox: staff accounts, the inbox page and its API as a Rasa input channel at /staff.

credentials.yml key: connectors.staff.StaffInput. Accounts: `python -m connectors.staff.accounts`.
"""
from __future__ import annotations

from typing import Any

from connectors import redact

redact.install()  # rasa run imports this package to load credentials.yml: mask every log line from now on

__all__ = ["StaffInput"]


def __getattr__(name: str) -> Any:
    """Import the channel (and Rasa) only when asked, so the accounts command and tables stay light."""
    if name in __all__:
        from connectors.staff import channel

        return getattr(channel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
