"""Sign-in: the password check behind a rate limit kept in the database, so it holds across instances.

A username may fail `max_failures_per_user` times (counted since its last success) and an address
`max_failures_per_ip` times within the window; one more attempt is refused with the seconds until
the oldest counted failure leaves the window, without checking the password. Each attempt is stored
as a failure under the write lock before its password is checked (and marked ok after), so attempts
sent at once count each other and cannot all pass the check. An unknown username costs the same
argon2 time as a known one, and both answer the same. Attempts older than ATTEMPTS_KEPT (or the
window, if longer) are deleted with each new one: long enough to look into an attack, and the
table does not grow without end. Sync, for asyncio.to_thread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional, Sequence

from sqlalchemy import delete, func, insert, select, update

from database.clock import utcnow
from database.session import lock_for_write, sessions
from connectors.staff import accounts, audit, passwords
from connectors.staff.config import StaffConfig
from connectors.staff.sessions import StaffSession, create_session, end_session
from connectors.staff.tables import login_attempts

ATTEMPTS_KEPT = timedelta(days=30)


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
            now: Optional[datetime] = None, previous_token: Optional[str] = None) -> SignInResult:
    """Check the password under the rate limit; on success open a session and record the sign-in.

    previous_token: the session cookie the browser still sent; a success ends that session.
    """
    now = now or utcnow()
    username = accounts.normalize_username(username)[:64]
    ip = ip[:64]
    attempt_id, wait = _reserve_attempt(username, ip, config, now)
    if attempt_id is None:
        return SignInResult(retry_after=wait)
    account = accounts.find(username) if username else None
    ok = passwords.verify_password(account.password_hash if account else passwords.dummy_hash(), password)
    ok = ok and account is not None and account.active
    if ok:
        with sessions().begin() as session:
            session.execute(update(login_attempts).where(login_attempts.c.id == attempt_id).values(ok=True))
            audit.record_in(session, account.username, "sign_in", account.id, ip=ip, now=now)
    if not ok:
        return SignInResult()
    if passwords.needs_rehash(account.password_hash):
        accounts.rehash(account.id, password)
    token, staff_session = create_session(account.id, config.session_ttl, now)
    if previous_token:
        end_session(previous_token)
    return SignInResult(token, staff_session)


def _reserve_attempt(username: str, ip: str, config: StaffConfig, now: datetime) -> tuple[Optional[int], int]:
    """Store the attempt as a failure if the limits allow one more; return (its id, 0) or (None, seconds to wait)."""
    la = login_attempts.c
    since = now - config.login_window
    with sessions().begin() as session:
        lock_for_write(session, "staff_signin")  # one reservation at a time: concurrent attempts see each other
        last_ok = session.scalar(select(func.max(la.at)).where(la.username == username, la.ok.is_(True)))
        user_since = max(since, last_ok) if last_ok is not None else since
        by_user = list(session.scalars(select(la.at).where(la.username == username, la.ok.is_(False),
                                                           la.at > user_since)))
        by_ip = list(session.scalars(select(la.at).where(la.ip == ip, la.ok.is_(False), la.at > since)))
        wait = max(retry_after(by_user, config.max_failures_per_user, config.login_window, now),
                   retry_after(by_ip, config.max_failures_per_ip, config.login_window, now))
        if wait:
            return None, wait
        attempt = session.execute(insert(login_attempts).values(username=username, ip=ip, ok=False, at=now))
        # Past the window an attempt no longer counts (a success older than it does not either).
        session.execute(delete(login_attempts).where(la.at < now - max(ATTEMPTS_KEPT, config.login_window)))
        return int(attempt.inserted_primary_key[0]), 0
