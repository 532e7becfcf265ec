"""Staff accounts, and the command that manages them.

    python -m connectors.staff.accounts create meera --name "Meera Iyer"
    python -m connectors.staff.accounts reset-password meera
    python -m connectors.staff.accounts disable meera      # and `enable`
    python -m connectors.staff.accounts list

The password is read from a prompt (typed twice, never echoed) or, for scripts, from STAFF_PASSWORD.
It is stored only as an argon2id hash. Disabling an account or resetting its password ends its
sessions. Every change is in the audit table (actor "cli"). DATABASE_URL selects the database.
"""
from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Optional, Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from database.clock import utcnow
from database.session import sessions
from connectors.staff import audit, passwords
from connectors.staff.tables import accounts, sessions as staff_sessions

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
NAME_MAX = 120
CLI = "cli"


class AccountError(ValueError):
    """An account change that cannot be made; the code names why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Account:
    """A staff account as sign-in and the inbox need it."""

    id: int
    username: str
    name: str
    active: bool
    password_hash: str = ""


def normalize_username(raw: str) -> str:
    """Return the username in its stored form (trimmed, lowercase)."""
    return raw.strip().lower()


def username_problem(username: str) -> Optional[str]:
    """Return why a username is refused, or None."""
    if not USERNAME.match(username):
        return "the username must be 2 to 64 characters: a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
    return None


def create(username: str, name: str, password: str, now: Optional[datetime] = None) -> int:
    """Create an active account; return its id."""
    username = normalize_username(username)
    name = name.strip()
    problem = username_problem(username) or passwords.password_problem(password)
    if problem:
        raise AccountError("invalid_account", problem)
    if not name or len(name) > NAME_MAX:
        raise AccountError("invalid_account", f"the name must have 1 to {NAME_MAX} characters")
    now = now or utcnow()
    password_hash = passwords.hash_password(password)
    try:
        with sessions().begin() as session:
            account_id = int(session.execute(insert(accounts).values(
                username=username, name=name, password_hash=password_hash, active=True, created_at=now,
                password_changed_at=now)).inserted_primary_key[0])
            audit.record_in(session, CLI, "account_created", account_id, now=now)
    except IntegrityError:
        raise AccountError("username_taken", f"an account named {username!r} exists already") from None
    return account_id


def set_active(username: str, active: bool, now: Optional[datetime] = None) -> None:
    """Enable or disable an account; disabling ends its sessions."""
    now = now or utcnow()
    a = accounts.c
    with sessions().begin() as session:
        account_id = _id_of(session, username)
        session.execute(update(accounts).where(a.id == account_id).values(
            active=active, disabled_at=None if active else now))
        if not active:
            session.execute(delete(staff_sessions).where(staff_sessions.c.account_id == account_id))
        audit.record_in(session, CLI, "account_enabled" if active else "account_disabled", account_id, now=now)


def reset_password(username: str, password: str, now: Optional[datetime] = None) -> None:
    """Set a new password and end the account's sessions."""
    problem = passwords.password_problem(password)
    if problem:
        raise AccountError("invalid_password", problem)
    now = now or utcnow()
    password_hash = passwords.hash_password(password)
    with sessions().begin() as session:
        account_id = _id_of(session, username)
        session.execute(update(accounts).where(accounts.c.id == account_id).values(
            password_hash=password_hash, password_changed_at=now))
        session.execute(delete(staff_sessions).where(staff_sessions.c.account_id == account_id))
        audit.record_in(session, CLI, "password_reset", account_id, now=now)


def rehash(account_id: int, password: str) -> None:
    """Store a fresh hash of a password that just verified (its parameters were outdated)."""
    password_hash = passwords.hash_password(password)
    with sessions().begin() as session:
        session.execute(update(accounts).where(accounts.c.id == account_id).values(password_hash=password_hash))


def find(username: str) -> Optional[Account]:
    """Return the account with this username (active or not), with its hash, or None."""
    a = accounts.c
    with sessions()() as session:
        row = session.execute(select(a.id, a.username, a.name, a.active, a.password_hash)
                              .where(a.username == normalize_username(username))).first()
    return None if row is None else Account(row.id, row.username, row.name, bool(row.active), row.password_hash)


def all_accounts() -> list[Account]:
    """Return every account, by username (no hashes)."""
    a = accounts.c
    with sessions()() as session:
        rows = session.execute(select(a.id, a.username, a.name, a.active).order_by(a.username)).all()
    return [Account(r.id, r.username, r.name, bool(r.active)) for r in rows]


def _id_of(session, username: str) -> int:
    """Return the id of the account, or raise AccountError."""
    account_id = session.scalar(select(accounts.c.id).where(accounts.c.username == normalize_username(username)))
    if account_id is None:
        raise AccountError("no_such_account", f"no account named {normalize_username(username)!r}")
    return int(account_id)


def read_password(environ: Optional[dict] = None) -> str:
    """Return STAFF_PASSWORD, or ask for the password twice without echoing it."""
    env = os.environ if environ is None else environ
    given = env.get("STAFF_PASSWORD")
    if given:
        return given
    if not sys.stdin.isatty():
        raise AccountError("no_password", "set STAFF_PASSWORD or run the command in a terminal to type the password")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise AccountError("password_mismatch", "the two passwords differ")
    return first


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m connectors.staff.accounts",
                                     description="Create, disable and enable staff accounts, reset passwords.")
    commands = parser.add_subparsers(dest="command", required=True)
    create_cmd = commands.add_parser("create", help="create an account (password from a prompt or STAFF_PASSWORD)")
    create_cmd.add_argument("username")
    create_cmd.add_argument("--name", required=True, help="the name customers' conversations show, e.g. Meera")
    for command in ("disable", "enable", "reset-password"):
        commands.add_parser(command).add_argument("username")
    commands.add_parser("list", help="list the accounts")
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            create(args.username, args.name, read_password())
            print(f"Created staff account {normalize_username(args.username)}.")
        elif args.command == "reset-password":
            reset_password(args.username, read_password())
            print(f"New password set for {normalize_username(args.username)}; their sessions are ended.")
        elif args.command in ("disable", "enable"):
            set_active(args.username, args.command == "enable")
            print(f"{normalize_username(args.username)} is {args.command}d.")
        else:
            for account in all_accounts():
                print(f"{account.username}\t{account.name}\t{'active' if account.active else 'disabled'}")
    except AccountError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
