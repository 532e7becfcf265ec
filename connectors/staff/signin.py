"""Sign-in: the password check behind a rate limit kept in the database, so it holds across instances.

A username may fail `max_failures_per_user` times (counted since its last success) and an address
`max_failures_per_ip` times within the window; one more attempt is refused with the seconds until
the oldest counted failure leaves the window, without checking the password. An unknown username
costs the same argon2 time as a known one, and both answer the same. Sync, for asyncio.to_thread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional, Sequence

from sqlalchemy import func, insert, select

from actions.db.clock import utcnow
from actions.db.session import sessions
from connectors.staff import accounts, audit, passwords
from connectors.staff.config import StaffConfig
from connectors.staff.sessions import StaffSession, create_session
from connectors.staff.tables import login_attempts


@dataclass(frozen=True)
class SignInResult:
    """The outcome: a session and its token, or a refusal (retry_after > 0 when rate-limited)."""

    token: Optional[str] = None
    session: Optional[StaffSession] = None
    retry_after: int = 0


def retry_after(failures: Sequence[datetime], limit: int, window: timedelta, now: datetime) -> int:
    """Return the seconds until another attempt is allowed (0: allowed now), given failure times."""
    recent = sorted(at for at in failures if at > now - window)
    if len(recent) < limit:
        return 0
    frees_at = recent[-limit] + window  # when only limit - 1 failures are left in the window
    return max(1, math.ceil((frees_at - now).total_seconds()))


def sign_in(username: str, password: str, ip: str, config: StaffConfig,
            now: Optional[datetime] = None) -> SignInResult:
    """Check the password under the rate limit; on success open a session and record the sign-in."""
    now = now or utcnow()
    username = accounts.normalize_username(username)[:64]
    ip = ip[:64]
    user_failures, ip_failures = _failures(username, ip, now - config.login_window)
    wait = max(retry_after(user_failures, config.max_failures_per_user, config.login_window, now),
               retry_after(ip_failures, config.max_failures_per_ip, config.login_window, now))
    if wait:
        return SignInResult(retry_after=wait)
    account = accounts.find(username) if username else None
    ok = passwords.verify_password(account.password_hash if account else passwords.dummy_hash(), password)
    ok = ok and account is not None and account.active
    with sessions().begin() as session:
        session.execute(insert(login_attempts).values(username=username, ip=ip, ok=ok, at=now))
        if ok:
            audit.record_in(session, account.username, "sign_in", account.id, ip=ip, now=now)
    if not ok:
        return SignInResult()
    if passwords.needs_rehash(account.password_hash):
        accounts.rehash(account.id, password)
    token, staff_session = create_session(account.id, config.session_ttl, now)
    return SignInResult(token, staff_session)


def _failures(username: str, ip: str, since: datetime) -> tuple[list[datetime], list[datetime]]:
    """Return the failed attempts since `since` of the username (after its last success) and of the address."""
    la = login_attempts.c
    with sessions()() as session:
        last_ok = session.scalar(select(func.max(la.at)).where(la.username == username, la.ok.is_(True)))
        user_since = max(since, last_ok) if last_ok is not None else since
        by_user = list(session.scalars(select(la.at).where(la.username == username, la.ok.is_(False),
                                                           la.at > user_since)))
        by_ip = list(session.scalars(select(la.at).where(la.ip == ip, la.ok.is_(False), la.at > since)))
    return by_user, by_ip
