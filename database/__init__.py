"""Business data for the assistant: tables, sessions and per-caller queries."""
