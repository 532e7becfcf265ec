"""The accounts command as an administrator runs it: create, reset, disable, list; the password is never shown."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

from sqlalchemy import select

from database.session import sessions
from connectors.staff import accounts, passwords
from connectors.staff.tables import accounts as accounts_table, audit
from tests.harness import ROOT

SECRET = secrets.token_urlsafe(16)  # tests generate their own secrets
NEW_SECRET = secrets.token_urlsafe(16)


def run(db_url: str, *args: str, password: str | None = SECRET) -> subprocess.CompletedProcess:
    """Run python -m connectors.staff.accounts with STAFF_PASSWORD and no terminal."""
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
    env.pop("STAFF_PASSWORD", None)
    if password is not None:
        env["STAFF_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "connectors.staff.accounts", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def test_create_reset_disable_and_list(database):
    """An account made by the command signs in with its password; reset, disable and list work; all audited."""
    made = run(database, "create", "Meera", "--name", "Meera Iyer")
    assert made.returncode == 0 and "Created staff account meera" in made.stdout
    assert SECRET not in made.stdout + made.stderr
    account = accounts.find("meera")
    assert account and account.name == "Meera Iyer" and passwords.verify_password(account.password_hash, SECRET)
    assert run(database, "create", "meera", "--name", "Again").returncode == 1
    assert run(database, "reset-password", "meera", password=NEW_SECRET).returncode == 0
    assert passwords.verify_password(accounts.find("meera").password_hash, NEW_SECRET)
    assert run(database, "disable", "meera").returncode == 0 and not accounts.find("meera").active
    listed = run(database, "list")
    assert listed.stdout.strip() == "meera\tMeera Iyer\tdisabled"
    with sessions()() as session:
        actions = session.execute(select(audit.c.actor, audit.c.action).order_by(audit.c.id)).all()
        stored = session.scalars(select(accounts_table.c.password_hash)).one()
    assert actions == [("cli", "account_created"), ("cli", "password_reset"), ("cli", "account_disabled")]
    assert SECRET not in stored and NEW_SECRET not in stored


def test_without_a_password_or_with_a_weak_one_nothing_is_created(database):
    """No STAFF_PASSWORD and no terminal, or a short password, is an error naming the problem."""
    missing = run(database, "create", "arjun", "--name", "Arjun", password=None)
    assert missing.returncode == 1 and "STAFF_PASSWORD" in missing.stderr
    weak = run(database, "create", "arjun", "--name", "Arjun", password="short")
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr
    assert accounts.all_accounts() == []
