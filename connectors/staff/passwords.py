"""Staff passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommendation).

Pure apart from CPU time (tens of milliseconds a hash, by design): call hash/verify through
asyncio.to_thread from the server.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is only a way to burn CPU


@lru_cache(maxsize=None)
def _hasher() -> PasswordHasher:
    """Return the one hasher (its parameters are written into every hash it makes)."""
    return PasswordHasher()


def password_problem(password: str) -> Optional[str]:
    """Return why a new password is refused, or None if it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password may have at most {MAX_LENGTH} characters"
    if not password.strip():
        return "the password must not be blank"
    return None


def hash_password(password: str) -> str:
    """Return the argon2id PHC string for a password."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Return True if password matches the hash (False for a wrong one or a damaged hash)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Return True if the hash was made with other parameters than today's."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=None)
def dummy_hash() -> str:
    """Return a hash to verify against for an unknown username, so it takes as long as a known one."""
    return hash_password("not a password of anyone: only spends the same time")
