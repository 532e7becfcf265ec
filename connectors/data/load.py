"""Validate raw rows and upsert them in the caller's transaction: the one path every load takes.

The data API, the CSV importer and the demo seed all come through here, so they accept and refuse
exactly the same rows.
"""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy.orm import Session

from connectors.data.rows import KINDS, validate
from connectors.data.store import Outcome, Rejected, apply


def apply_rows(session: Session, kind_name: str, rows: Sequence[Any], csv: bool = False) -> Outcome:
    """Validate and upsert one kind's rows; raise Rejected with every problem (the caller rolls back)."""
    kind = KINDS[kind_name]
    records, problems = validate(kind, rows, csv)
    if problems:
        raise Rejected(problems)
    outcome = apply(session, kind, records)
    if outcome.problems:
        raise Rejected(outcome.problems)
    return outcome
