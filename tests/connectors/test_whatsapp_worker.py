"""Pure parts of the worker and the settings: rebuilt turns, tapped ids, media files, configuration."""
from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered

from connectors.whatsapp.config import ConfigError, WhatsAppConfig
from connectors.whatsapp.media import media_path
from connectors.whatsapp.worker import choice_text, turn_replies

MENU = {"buttons": [{"title": "Check Order Status", "payload": "/menu_orders"}]}
REQUIRED = {"WHATSAPP_PHONE_NUMBER_ID": "1098", "WHATSAPP_BUSINESS_ACCOUNT_ID": "1020",
            "WHATSAPP_API_TOKEN": "EAAG-token-value", "WHATSAPP_APP_SECRET": "app-secret-value",
            "WHATSAPP_WEBHOOK_VERIFY_TOKEN": "verify-token-value"}


def conversation() -> list:
    """Return a tracker's events: a session greeting, then two turns."""
    return [
        ActionExecuted("action_session_start"), BotUttered("Hello Asha"), SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("hi", message_id="wamid.A"), ActionExecuted("utter_main_menu"),
        BotUttered("How can I help?", data=MENU), ActionExecuted("action_listen"),
        UserUttered("1", message_id="wamid.B"), SlotSet("x", 1), ActionExecuted("utter_orders_menu"),
        BotUttered("Orders"), BotUttered("Pick one"), ActionExecuted("action_listen"),
    ]


def test_a_first_turn_includes_the_session_greeting():
    """The turn that opened the session rebuilds as greeting plus menu, buttons included."""
    replies = turn_replies(conversation(), "wamid.A")
    assert [r["text"] for r in replies] == ["Hello Asha", "How can I help?"]
    assert replies[1]["buttons"] == MENU["buttons"]


def test_a_later_turn_rebuilds_only_its_own_replies():
    """The second turn rebuilds its two bubbles and none of the first turn's."""
    assert [r["text"] for r in turn_replies(conversation(), "wamid.B")] == ["Orders", "Pick one"]


def test_a_message_rasa_never_saw_is_not_rebuilt():
    """An unknown message id means the turn must run."""
    assert turn_replies(conversation(), "wamid.C") is None


@pytest.mark.parametrize(("tapped", "text"), [("opt:3", "3"), ("opt:12", "12"), ("/menu_orders", "/menu_orders"),
                                              ("opt:x", "opt:x")])
def test_tapped_ids_become_what_the_assistant_understands(tapped, text):
    """Short ids become their number; payload ids pass through."""
    assert choice_text(tapped) == text


def test_an_id_another_system_gave_a_button_is_read_as_the_title_the_customer_tapped():
    """A tap on "Yes, cancel it" whose id is "callback_data" means what its title says, not "call back"."""
    assert choice_text("callback_data", "Yes, cancel it") == "Yes, cancel it"
    assert choice_text("/menu_orders", "1. Check Order Status") == "/menu_orders"
    assert choice_text("opt:2", "2. Track") == "2"
    assert choice_text("callback_data", "") == "callback_data"


def test_media_is_saved_under_a_safe_name(tmp_path: Path):
    """A media id with path characters cannot escape the media dir."""
    path = media_path(tmp_path / "media", "../../etc/passwd", "image/jpeg")
    assert path.parent == tmp_path / "media" and path.suffix == ".jpg"


def test_missing_settings_are_all_named_without_values():
    """Start-up fails with every missing variable named, and no secret value in the message."""
    partial = {k: v for k, v in REQUIRED.items() if k not in ("WHATSAPP_APP_SECRET", "WHATSAPP_API_TOKEN")}
    with pytest.raises(ConfigError) as raised:
        WhatsAppConfig.from_env(partial)
    message = str(raised.value)
    assert "WHATSAPP_APP_SECRET" in message and "WHATSAPP_API_TOKEN" in message
    assert "verify-token-value" not in message


def test_defaults_and_secret_free_repr():
    """Optional settings have their defaults and repr shows no secret."""
    config = WhatsAppConfig.from_env(REQUIRED)
    assert (config.graph_base, config.max_mps, config.media_dir) == (
        "https://graph.facebook.com/v25.0", 80.0, Path("var/media"))
    assert not any(secret in repr(config) for secret in ("EAAG-token-value", "app-secret-value",
                                                          "verify-token-value"))


@pytest.mark.parametrize("value", ["0", "-2", "three", "1.5"])
def test_a_bad_turn_concurrency_stops_start_up_with_its_name(value):
    """WHATSAPP_TURN_CONCURRENCY must be a whole number above 0; the message names the setting."""
    with pytest.raises(ConfigError, match="WHATSAPP_TURN_CONCURRENCY"):
        WhatsAppConfig.from_env({**REQUIRED, "WHATSAPP_TURN_CONCURRENCY": value})
    assert WhatsAppConfig.from_env({**REQUIRED, "WHATSAPP_TURN_CONCURRENCY": "8"}).turn_concurrency == 8


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_a_bad_turn_timeout_stops_start_up_with_its_name(value):
    """WHATSAPP_TURN_TIMEOUT_SECONDS must be a number above 0 (default 30); the message names the setting."""
    with pytest.raises(ConfigError, match="WHATSAPP_TURN_TIMEOUT_SECONDS"):
        WhatsAppConfig.from_env({**REQUIRED, "WHATSAPP_TURN_TIMEOUT_SECONDS": value})
    assert WhatsAppConfig.from_env(REQUIRED).turn_timeout_seconds == 30.0
    assert WhatsAppConfig.from_env({**REQUIRED, "WHATSAPP_TURN_TIMEOUT_SECONDS": "2.5"}).turn_timeout_seconds == 2.5


def test_credentials_block_may_supply_settings():
    """Keys in the credentials.yml block fill in (or override) the environment."""
    config = WhatsAppConfig.from_env({}, overrides={k[len("WHATSAPP_"):].lower(): v for k, v in REQUIRED.items()})
    assert config.phone_number_id == "1098"
