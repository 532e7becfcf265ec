"""The Graph API stand-in, now part of the product in simulator/graph_api.py (re-exported here).

From a shell: `python -m tests.fakes.graph_api --port 8081 --token T --phone-number-id P`.
"""
from __future__ import annotations

from simulator.graph_api import FakeGraph, add_graph_routes, main, make_app
from simulator.graph_control import add_control_routes
from simulator.graph_rules import error_body, http_status_for, validate_message
from simulator.graph_state import (DEFAULT_PHONE_NUMBER_ID, DEFAULT_TOKEN, DEFAULT_VERSION, HANG, STATE,
                                   GraphState, Record, digits, next_fault)

__all__ = ["DEFAULT_PHONE_NUMBER_ID", "DEFAULT_TOKEN", "DEFAULT_VERSION", "HANG", "STATE", "FakeGraph",
           "GraphState", "Record", "add_control_routes", "add_graph_routes", "digits", "error_body",
           "http_status_for", "main", "make_app", "next_fault", "validate_message"]

if __name__ == "__main__":
    main(prog="python -m tests.fakes.graph_api")
