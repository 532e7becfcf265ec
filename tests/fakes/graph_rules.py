"""What Meta's Graph API checks on a /messages body: simulator/graph_rules.py, re-exported here."""
from __future__ import annotations

from simulator.graph_rules import (INTERACTIVE_TYPES, MEDIA_TYPES, SEND_TYPES, Rejection, error_body,
                                   http_status_for, validate_message)

__all__ = ["INTERACTIVE_TYPES", "MEDIA_TYPES", "SEND_TYPES", "Rejection", "error_body", "http_status_for",
           "validate_message"]
