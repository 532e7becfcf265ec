"""What the Graph API stand-in remembers: simulator/graph_state.py, re-exported here."""
from __future__ import annotations

from simulator.graph_state import (DEFAULT_PHONE_NUMBER_ID, DEFAULT_TOKEN, DEFAULT_VERSION, HANG, STATE,
                                   GraphState, Knobs, Record, digits, next_fault)

__all__ = ["DEFAULT_PHONE_NUMBER_ID", "DEFAULT_TOKEN", "DEFAULT_VERSION", "HANG", "STATE", "GraphState",
           "Knobs", "Record", "digits", "next_fault"]
