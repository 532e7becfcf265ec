"""Server-side staff sessions, their cookie and their CSRF token.

The cookie `staff_session` holds a random token; the database keeps only its SHA-256, the account
and an expiry, so a session ends when its row goes (sign-out, password reset, account disabled) or
its time is up. Each session has its own synchronizer token: every state-changing request must echo
it in the X-CSRF-Token header. Before sign-in there is no session, so the sign-in form uses a
double-submit token instead (cookie `staff_csrf` and the same value in the header). Sync functions
for asyncio.to_thread; cookie and token helpers are pure.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import delete, insert, select

from database.clock import utcnow
from database.session import sessions
from connectors.staff.tables import accounts, sessions as staff_sessions

COOKIE = "staff_session"
SIGNIN_CSRF_COOKIE = "staff_csrf"
CSRF_HEADER = "X-CSRF-Token"
COOKIE_PATH = "/staff"
SIGNIN_CSRF_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class StaffSession:
    """A signed-in person: their account and this session's CSRF token."""

    account_id: int
    username: str
    name: str
    csrf_token: str
    expires_at: datetime


def new_token() -> str:
    """Return a fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Return the SHA-256 hex of a session token, the form stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(expected: Optional[str], given: Optional[str]) -> bool:
    """Return True if both tokens are present and equal (constant time)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def cookie_header(name: str, value: str, max_age: int, secure: bool, path: str = COOKIE_PATH) -> str:
    """Return a Set-Cookie value: HttpOnly, SameSite=Strict, limited to path, Secure when asked."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max(0, max_age)}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def create_session(account_id: int, ttl: timedelta, now: Optional[datetime] = None) -> tuple[str, StaffSession]:
    """Store a new session for the account; return its cookie token and the session."""
    now = now or utcnow()
    token, csrf = new_token(), new_token()
    with sessions().begin() as session:
        session.execute(insert(staff_sessions).values(token_hash=token_hash(token), account_id=account_id,
                                                      csrf_token=csrf, created_at=now, expires_at=now + ttl))
        # Expired rows of anyone go with each sign-in, so the table does not grow without end.
        session.execute(delete(staff_sessions).where(staff_sessions.c.expires_at < now))
        row = session.execute(select(accounts.c.username, accounts.c.name)
                              .where(accounts.c.id == account_id)).one()
    return token, StaffSession(account_id, row.username, row.name, csrf, now + ttl)


def find_session(token: Optional[str], now: Optional[datetime] = None) -> Optional[StaffSession]:
    """Return the live session of a cookie token (unexpired, account active), or None."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    s, a = staff_sessions.c, accounts.c
    stmt = (select(s.account_id, s.csrf_token, s.expires_at, a.username, a.name)
            .join(accounts, a.id == s.account_id)
            .where(s.token_hash == token_hash(token), s.expires_at > now, a.active.is_(True)))
    with sessions()() as session:
        row = session.execute(stmt).first()
    return None if row is None else StaffSession(row.account_id, row.username, row.name, row.csrf_token,
                                                 row.expires_at)


def end_session(token: str) -> bool:
    """Delete the session of a cookie token; return True if there was one."""
    with sessions().begin() as session:
        result = session.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == token_hash(token)))
    return result.rowcount == 1
