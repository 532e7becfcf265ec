"""Sign-in, sessions, cookies, CSRF and the login rate limit, over HTTP as a browser meets them."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import aiohttp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import insert, select, update

from database.clock import utcnow
from database.session import sessions
from connectors.staff.config import StaffConfig
from connectors.staff import accounts, passwords
from connectors.staff.tables import accounts as accounts_table, audit, login_attempts, sessions as staff_sessions
from tests.management.conftest import ASHA, add_contact, add_inbound, outbox_rows
from tests.staff.conftest import CONFIG, PASSWORD, serve

READS = ["/api/me", "/api/conversations", f"/api/conversations/{ASHA}", "/api/media/1"]
WRITES = ["/api/signout", f"/api/conversations/{ASHA}/reply", f"/api/conversations/{ASHA}/take-over",
          f"/api/conversations/{ASHA}/hand-back"]


def cookie_headers(response) -> list[str]:
    """Return the Set-Cookie headers of a response."""
    return response.headers.getall("Set-Cookie", [])


@pytest.mark.asyncio
async def test_the_inbox_page_redirects_to_sign_in_without_a_session(tab):
    """Opening /staff without a session sends the browser to /staff/signin; the sign-in page loads."""
    status, _, response = await tab.call("GET", "")
    assert (status, response.headers["Location"]) == (303, "/staff/signin")
    status, page, response = await tab.call("GET", "/signin")
    assert status == 200 and "Sign in" in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", READS)
@pytest.mark.asyncio
async def test_every_read_needs_a_session(tab, path):
    """Without a session every API read answers 401 unauthorized."""
    status, body, _ = await tab.call("GET", path)
    assert (status, body["error"]) == (401, "unauthorized")


@pytest.mark.parametrize("path", WRITES)
@pytest.mark.asyncio
async def test_every_write_needs_a_session(tab, path):
    """Without a session every API write answers 401 and nothing is queued."""
    add_contact(ASHA, last_inbound_at=None)
    status, body, _ = await tab.call("POST", path, {"text": "hello"}, csrf="anything")
    assert (status, body["error"]) == (401, "unauthorized")
    assert outbox_rows() == []


@pytest.mark.asyncio
async def test_signing_in_sets_a_strict_httponly_session_cookie_and_records_it(tab, staff_accounts):
    """The right password opens a session: cookie HttpOnly, SameSite=Strict, path /staff; the audit names who."""
    status, body, response = await tab.sign_in("Meera")
    assert status == 200 and body["username"] == "meera" and body["name"] == "Meera" and body["csrf_token"]
    [session_cookie] = [c for c in cookie_headers(response) if c.startswith("staff_session=")]
    flags = session_cookie.split("; ")
    assert {"HttpOnly", "SameSite=Strict", "Path=/staff", "Max-Age=43200"} <= set(flags)
    assert "Secure" not in flags
    status, me, _ = await tab.call("GET", "/api/me")
    assert (status, me["username"]) == (200, "meera")
    status, page, _ = await tab.call("GET", "")
    assert status == 200 and "Staff inbox" in page
    with sessions()() as session:
        stored = session.execute(select(staff_sessions.c.token_hash)).scalars().all()
        entries = session.execute(select(audit.c.actor, audit.c.action, audit.c.account_id)).all()
    token = session_cookie.split(";")[0].split("=", 1)[1]
    assert token not in stored and len(stored) == 1  # only its hash is kept
    assert ("meera", "sign_in", staff_accounts["meera"]) in entries


@pytest.mark.asyncio
async def test_signing_in_again_gives_a_new_session_and_ends_the_old_one(tab, other_tab):
    """A second sign-in in the same browser gets another session token; the one it replaced stops working."""
    await tab.sign_in("meera")
    [first] = [c.value for c in tab.http.cookie_jar if c.key == "staff_session"]
    await tab.sign_in("arjun")
    [second] = [c.value for c in tab.http.cookie_jar if c.key == "staff_session"]
    assert second != first
    status, _, _ = await other_tab.call("GET", "/api/me", headers={"Cookie": f"staff_session={first}"})
    assert status == 401
    assert (await tab.call("GET", "/api/me"))[1]["username"] == "arjun"


@pytest.mark.asyncio
async def test_the_cookie_is_secure_when_asked(staff_accounts, monkeypatch):
    """With STAFF_COOKIE_SECURE=1 both cookies the channel sets carry Secure."""
    config = replace(CONFIG, **{"cookie_secure": StaffConfig.from_env({"STAFF_COOKIE_SECURE": "1"}).cookie_secure})
    async with serve(config, monkeypatch) as running, aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        browser = running.browser(http)
        _, token, first = await browser.call("GET", "/api/signin")
        # aiohttp keeps no Secure cookie over http, as a browser would not: send the token back by hand.
        status, _, response = await browser.call("POST", "/api/signin", {"username": "meera", "password": PASSWORD},
                                                 headers={"X-CSRF-Token": token["csrf_token"],
                                                          "Cookie": f"staff_csrf={token['csrf_token']}"})
    assert status == 200
    for header in cookie_headers(first) + cookie_headers(response):
        assert header.endswith("; Secure"), header


@pytest.mark.asyncio
async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(tab):
    """A wrong password and a username nobody has both get 401 invalid_credentials and no cookie."""
    for username, password in (("meera", "not the password"), ("nobody", PASSWORD)):
        status, body, response = await tab.sign_in(username, password)
        assert (status, body["error"]) == (401, "invalid_credentials")
        assert not [c for c in cookie_headers(response) if c.startswith("staff_session=") and "Max-Age=0" not in c]


@pytest.mark.asyncio
async def test_a_disabled_account_cannot_sign_in_and_loses_its_session(tab, other_tab):
    """Disabling an account ends its open session (401 next time) and refuses its password."""
    assert (await tab.sign_in("arjun"))[0] == 200
    accounts.set_active("arjun", False)
    assert (await tab.call("GET", "/api/me"))[0] == 401
    assert (await other_tab.sign_in("arjun"))[0] == 401


@pytest.mark.asyncio
async def test_a_password_reset_ends_sessions_and_the_new_password_works(tab, other_tab):
    """After a reset the old session is gone, the old password fails and the new one signs in."""
    assert (await tab.sign_in("meera"))[0] == 200
    accounts.reset_password("meera", "a brand new secret")
    assert (await tab.call("GET", "/api/me"))[0] == 401
    assert (await other_tab.sign_in("meera"))[0] == 401
    assert (await other_tab.sign_in("meera", "a brand new secret"))[0] == 200


@pytest.mark.asyncio
async def test_signing_in_without_the_sign_in_token_is_refused(tab):
    """A sign-in post without the double-submit token, or with another value, gets 403 csrf."""
    await tab.call("GET", "/api/signin")
    for token in ("", "forged-token"):
        status, body, _ = await tab.call("POST", "/api/signin", {"username": "meera", "password": PASSWORD},
                                         headers={} if not token else {"X-CSRF-Token": token})
        assert (status, body["error"]) == (403, "csrf")
    with sessions()() as session:
        assert session.execute(select(login_attempts)).all() == []


@pytest.mark.parametrize("path", WRITES)
@pytest.mark.parametrize("token", ["missing", "wrong"])
@pytest.mark.asyncio
async def test_every_write_needs_the_sessions_csrf_token(tab, path, token):
    """A signed-in write without the session's CSRF token, or with another, gets 403 csrf and changes nothing."""
    add_contact(ASHA, last_inbound_at=None)
    await tab.sign_in("meera")
    headers = {} if token == "missing" else {"X-CSRF-Token": "x" * 43}
    status, body, _ = await tab.call("POST", path, {"text": "hello"}, headers=headers or {"X-CSRF-Token": ""})
    assert (status, body["error"]) == (403, "csrf")
    assert outbox_rows() == []
    assert (await tab.call("GET", "/api/me"))[0] == 200  # still signed in: sign-out was refused too


@pytest.mark.asyncio
async def test_another_sessions_csrf_token_does_not_work(tab, other_tab):
    """The CSRF token of one session is refused in another."""
    add_contact(ASHA, last_inbound_at=None)
    await tab.sign_in("meera")
    await other_tab.sign_in("arjun")
    status, body, _ = await tab.call("POST", f"/api/conversations/{ASHA}/take-over", {}, csrf=other_tab.csrf)
    assert (status, body["error"]) == (403, "csrf")


@pytest.mark.asyncio
async def test_a_username_is_locked_after_repeated_failures_with_retry_after(tab, other_tab):
    """After 3 wrong passwords the 4th try, even the right one, gets 429 with Retry-After; other users still sign in."""
    for _ in range(3):
        assert (await tab.sign_in("meera", "wrong password!"))[0] == 401
    status, body, response = await tab.sign_in("meera")
    assert (status, body["error"]) == (429, "too_many_attempts")
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert (await other_tab.sign_in("arjun"))[0] == 200


@pytest.mark.asyncio
async def test_sign_in_attempts_are_kept_30_days_then_deleted(tab):
    """A month-old failure is deleted by the next attempt; yesterday's stays (for whoever looks into an attack)."""
    now = utcnow()
    with sessions().begin() as session:
        for days in (31, 1):
            session.execute(insert(login_attempts).values(username="someone", ip="203.0.113.7", ok=False,
                                                          at=now - timedelta(days=days)))
    assert (await tab.sign_in("meera"))[0] == 200
    with sessions()() as session:
        kept = session.execute(select(login_attempts.c.username, login_attempts.c.ok)
                               .order_by(login_attempts.c.at)).all()
    assert [tuple(row) for row in kept] == [("someone", False), ("meera", True)]


@pytest.mark.asyncio
async def test_wrong_passwords_sent_at_once_get_no_more_tries_than_the_limit(tab):
    """Twelve wrong passwords for one username sent at the same moment: only 3 are checked, 9 get 429."""
    _, token, _ = await tab.call("GET", "/api/signin")

    async def attempt() -> int:
        return (await tab.call("POST", "/api/signin", {"username": "meera", "password": "wrong password!"},
                               csrf=token["csrf_token"]))[0]

    statuses = await asyncio.gather(*(attempt() for _ in range(12)))
    assert sorted(statuses) == [401] * 3 + [429] * 9
    with sessions()() as session:
        assert len(session.execute(select(login_attempts)).all()) == 3


@pytest.mark.parametrize("variant", ["MEERA", " meera ", "Meera\t"])
@pytest.mark.asyncio
async def test_case_and_spaces_do_not_make_a_new_username_to_guess(tab, variant):
    """Failures under "meera" also lock "MEERA", " meera " and a tab-ended variant: one counter per account."""
    for _ in range(3):
        assert (await tab.sign_in("meera", "wrong password!"))[0] == 401
    status, body, _ = await tab.sign_in(variant)
    assert (status, body["error"]) == (429, "too_many_attempts")


@pytest.mark.asyncio
async def test_an_address_is_limited_across_usernames(tab):
    """One address failing 6 times over several usernames is refused with 429 for any username."""
    for name in ("a1", "a2", "a3", "a4", "a5", "a6"):
        assert (await tab.sign_in(name, "wrong password!"))[0] == 401
    status, body, response = await tab.sign_in("arjun")
    assert (status, body["error"]) == (429, "too_many_attempts") and int(response.headers["Retry-After"]) > 0


@pytest.mark.asyncio
async def test_the_limit_is_kept_in_the_database(tab):
    """Failures another instance stored count here: the limit lives in the database, not in memory."""
    with sessions().begin() as session:
        for _ in range(3):
            session.execute(insert(login_attempts).values(username="meera", ip="10.0.0.9", ok=False, at=utcnow()))
    status, body, _ = await tab.sign_in("meera")
    assert (status, body["error"]) == (429, "too_many_attempts")


@pytest.mark.asyncio
async def test_an_expired_session_stops_working(tab):
    """Once a session's time is up the API answers 401 and the inbox page sends the browser to sign in."""
    await tab.sign_in("meera")
    with sessions().begin() as session:
        session.execute(update(staff_sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await tab.call("GET", "/api/me"))[0] == 401
    status, _, response = await tab.call("GET", "")
    assert (status, response.headers["Location"]) == (303, "/staff/signin")


@pytest.mark.asyncio
async def test_a_hash_with_old_parameters_is_replaced_at_the_next_sign_in(tab, staff_accounts):
    """A password hashed with weaker argon2 parameters still signs in, and is then stored with today's."""
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with sessions().begin() as session:
        session.execute(update(accounts_table).where(accounts_table.c.username == "meera").values(password_hash=weak))
    assert (await tab.sign_in("meera"))[0] == 200
    with sessions()() as session:
        stored = session.scalar(select(accounts_table.c.password_hash).where(accounts_table.c.username == "meera"))
    assert stored != weak and not passwords.needs_rehash(stored) and passwords.verify_password(stored, PASSWORD)


@pytest.mark.asyncio
async def test_signing_out_ends_the_session(tab):
    """Sign-out deletes the session: the cookie is cleared and the old cookie no longer works."""
    await tab.sign_in("meera")
    status, body, response = await tab.call("POST", "/api/signout", {})
    assert (status, body["status"]) == (200, "signed_out")
    assert any(c.startswith("staff_session=;") and "Max-Age=0" in c for c in cookie_headers(response))
    assert (await tab.call("GET", "/api/me"))[0] == 401
    with sessions()() as session:
        assert session.execute(select(staff_sessions)).all() == []
        assert ("meera", "sign_out") in session.execute(select(audit.c.actor, audit.c.action)).all()


@pytest.mark.asyncio
async def test_bad_input_gets_a_clear_400(tab):
    """A sign-in body that is not JSON or lacks a password, and a bad number, get 400 with a code."""
    _, token, _ = await tab.call("GET", "/api/signin")
    for raw in (b"not json", b'{"username": "meera"}', b'{"username": "meera", "password": 7}'):
        status, answer, _ = await tab.call("POST", "/api/signin", raw=raw, csrf=token["csrf_token"])
        assert status == 400 and answer["error"] in ("invalid_json", "invalid_body")
    await tab.sign_in("meera")
    add_inbound(ASHA, "hi")
    status, answer, _ = await tab.call("GET", "/api/conversations/12ab")
    assert (status, answer["error"]) == (400, "invalid_wa_id")


@pytest.mark.parametrize("media_id", ["0", "-1", "424242", "9223372036854775808", "99999999999999999999999"])
@pytest.mark.asyncio
async def test_a_media_id_that_names_no_file_gets_404_json(tab, media_id):
    """A media id of no downloaded file, including one too large for a database integer, gets 404 media_not_found."""
    await tab.sign_in("meera")
    status, answer, _ = await tab.call("GET", f"/api/media/{media_id}")
    assert (status, answer["error"]) == (404, "media_not_found")
