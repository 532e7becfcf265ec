"""Human-facing references (DEF-0001, TCK-0001) allocated under a unique constraint."""

from __future__ import annotations

from typing import Callable, TypeVar

from sqlalchemy import Integer, and_, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import InstrumentedAttribute

T = TypeVar("T")


def next_ref(session: Session, column: InstrumentedAttribute, prefix: str, width: int = 4) -> str:
    """Return the ref after the highest number in `column`, e.g. DEF-0004.

    Call after lock_for_write(session, "ref:" + prefix), so no other writer can take it first.
    Refs not of the form PREFIX-digits (typed in by hand elsewhere) are skipped: PostgreSQL's
    CAST would fail on them, SQLite's would read them as 0.
    """
    # Compare numbers, not strings, so DEF-10000 sorts after DEF-9999.
    number = cast(func.substr(column, len(prefix) + 2), Integer)
    if session.get_bind().dialect.name == "postgresql":
        well_formed = column.op("~")(f"^{prefix}-[0-9]+$")
    else:
        well_formed = and_(column.like(f"{prefix}-%"), func.substr(column, len(prefix) + 2).op("NOT GLOB")("*[^0-9]*"))
    highest = session.scalar(select(func.max(number)).where(well_formed))
    return f"{prefix}-{(highest or 0) + 1:0{width}d}"


def retry_on_clash(write: Callable[[], T], attempts: int = 5) -> T:
    """Run the transaction in `write` again when a concurrent writer took the same ref.

    SQLite never gets here (lock_for_write serialises writers); databases that
    let two writers read the same last ref do, and the unique ref turns it into a retry.
    """
    for _ in range(attempts - 1):
        try:
            return write()
        except IntegrityError:
            continue
    return write()
