"""The staff inbox's pure parts: rate-limit arithmetic, cookies, search, display, passwords and settings."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from connectors.staff import display, passwords
from connectors.staff.accounts import normalize_username, username_problem
from connectors.staff.config import ConfigError, OfferedTemplate, StaffConfig
from connectors.staff.inbox import Query, query_of
from connectors.staff.sessions import cookie_header, token_hash, tokens_match
from connectors.staff.signin import retry_after

NOW = datetime(2026, 1, 1, 12, 0, 0)
WINDOW = timedelta(minutes=15)


@pytest.mark.parametrize(("ago_minutes", "limit", "expected"), [
    ([], 3, 0), ([1, 2], 3, 0), ([1, 2, 3], 3, 12 * 60), ([1, 2, 3, 4], 3, 12 * 60), ([1, 2, 20], 3, 0),
    ([14.5, 14.6, 14.7], 3, 18)], ids=["none", "under", "at_limit", "over_limit", "old_ones_expire", "almost_free"])
def test_retry_after_counts_failures_inside_the_window(ago_minutes, limit, expected):
    """The wait lasts until the limit-th newest failure leaves the window; older failures do not count."""
    failures = [NOW - timedelta(minutes=m) for m in ago_minutes]
    assert retry_after(failures, limit, WINDOW, NOW) == expected


def test_the_cookie_is_httponly_strict_and_secure_only_when_asked():
    """The Set-Cookie value has HttpOnly, SameSite=Strict and path /staff; Secure only with secure=True."""
    assert cookie_header("staff_session", "abc", 60, False) == \
        "staff_session=abc; Path=/staff; Max-Age=60; HttpOnly; SameSite=Strict"
    assert cookie_header("staff_session", "", -5, True).endswith("Max-Age=0; HttpOnly; SameSite=Strict; Secure")


def test_tokens_match_only_equal_non_empty_values():
    """A missing token never matches, not even another missing one."""
    assert tokens_match("a" * 10, "a" * 10) and not tokens_match("a", "b")
    assert not tokens_match("", "") and not tokens_match(None, None) and not tokens_match("x", None)
    assert token_hash("t") != "t" and len(token_hash("t")) == 64


@pytest.mark.parametrize(("raw", "expected"), [
    ("  ", None), ("+91 98000-00002", Query("919800000002", "+91 98000-00002")), ("Asha", Query("", "Asha")),
    ("x" * 500, Query("", "x" * 100))], ids=["blank", "number", "name", "long"])
def test_a_search_is_a_number_or_words(raw, expected):
    """Digits (spaces, +, - and brackets ignored) search numbers; anything searches names and companies."""
    assert query_of(raw) == expected


def test_usernames_are_lowercase_and_plain():
    """Usernames are stored lowercase; markup and spaces are refused."""
    assert normalize_username("  Meera ") == "meera" and username_problem("meera") is None
    assert username_problem("<b>x</b>") and username_problem("a") and username_problem("two words")


def test_passwords_are_argon2id_and_verify_only_the_right_one():
    """A hash is argon2id, never the password; only the right password verifies; short ones are refused."""
    hashed = passwords.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$") and "correct" not in hashed
    assert passwords.verify_password(hashed, "correct horse battery")
    assert not passwords.verify_password(hashed, "wrong horse battery")
    assert not passwords.verify_password("not a hash", "x")
    assert passwords.password_problem("short") and passwords.password_problem("long enough!") is None
    assert not passwords.needs_rehash(hashed)


def test_inbound_items_show_what_the_customer_sent():
    """A tap shows its title, a photo its caption and whether it can be opened, markup stays text."""
    tap = display.inbound_item(3, "button_reply", "/menu_orders", {"details": {"title": "Orders"}}, NOW, False)
    assert (tap["kind"], tap["text"]) == ("tap", "Orders")
    photo = display.inbound_item(4, "image", "", {"media": {"mime_type": "image/jpeg", "caption": "torn"}}, NOW, True)
    assert photo["media"]["url"] == "media/4" and photo["text"] == "torn"
    text = display.inbound_item(5, "text", "<img src=x onerror=alert(1)>", {}, NOW, False)
    assert text["text"] == "<img src=x onerror=alert(1)>"
    assert display.inbound_item(6, "location", "", {"details": {"name": "Plant", "latitude": 1, "longitude": 2}},
                                NOW, False)["text"] == "Plant · 1, 2"


def test_outbound_items_show_what_the_phone_showed():
    """Buttons and templates render by title and name; a non-web link is not offered; ticks follow Meta."""
    doc = display.outbound_item(1, {"type": "document", "document": {"link": "javascript:alert(1)", "filename": "a.pdf"}},
                                NOW, "bot", "sent", "read", None, None)
    assert doc["media"]["url"] is None and doc["ticks"] == "read"
    template = display.outbound_item(2, {"type": "template", "template": {"name": "hello_again"}}, NOW, "staff",
                                     "failed", None, "window_closed", "Meera")
    assert (template["template"], template["ticks"], template["error"], template["author"]) == (
        "hello_again", "failed", "window_closed", "Meera")
    assert display.ticks_of("queued", None) == "queued" and display.ticks_of("sent", "played") == "read"


def test_settings_come_from_the_environment():
    """STAFF_* variables set the cookie, limits and templates; the re-engagement template is the default offer."""
    config = StaffConfig.from_env({"STAFF_COOKIE_SECURE": "1", "STAFF_SESSION_HOURS": "2",
                                   "STAFF_TEMPLATES": "hello_again:en_US, order_help"})
    assert config.cookie_secure and config.session_ttl == timedelta(hours=2)
    assert config.templates == (OfferedTemplate("hello_again", "en_US"), OfferedTemplate("order_help", "en"))
    assert StaffConfig.from_env({"WHATSAPP_REENGAGEMENT_TEMPLATE": "reengage"}).templates == (
        OfferedTemplate("reengage", "en"),)
    assert StaffConfig.from_env({"MARKETING_TEMPLATES": " diwali_sale, new_catalogue"}).marketing_templates == {
        "diwali_sale", "new_catalogue"}
    for bad in ({"STAFF_COOKIE_SECURE": "maybe"}, {"STAFF_SESSION_HOURS": "0"}, {"STAFF_TEMPLATES": "Bad Name"},
                {"MARKETING_TEMPLATES": "diwali_sale:en"}):
        with pytest.raises(ConfigError):
            StaffConfig.from_env(bad)
