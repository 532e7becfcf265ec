"""POST /send refuses a marketing template to a number that stopped marketing messages; utility ones still go.

The number stops marketing through Meta's real `user_preferences` webhook semantics (store.apply_preference,
as the channel applies it); MARKETING_TEMPLATES names the templates Meta categorised as MARKETING.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import AsyncIterator

import pytest
import pytest_asyncio

from database.clock import utcnow
from connectors.management.config import ConfigError, ManagementConfig
from connectors.whatsapp import store
from connectors.whatsapp.db import writing
from connectors.whatsapp.updates import PreferenceUpdate
from tests.management.conftest import ASHA, QUIET, RAVI, TOKEN, Api, add_contact, outbox_rows, serve

SALE = {"name": "diwali_sale", "language": "en"}
UPDATE = {"name": "order_update", "language": "en"}


@pytest_asyncio.fixture
async def api(seeded: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """The API with diwali_sale configured as a marketing template, as from the environment."""
    env = {"MANAGEMENT_API_TOKEN": TOKEN, "MARKETING_TEMPLATES": " diwali_sale, new_catalogue"}
    config = replace(ManagementConfig.from_env(env), **QUIET)
    async for running in serve(config, monkeypatch):
        yield running


def stop_marketing(wa_id: str, value: str = "stop", seconds_ago: int = 60) -> None:
    """Apply Meta's user_preferences stop (or resume) for wa_id, made seconds_ago, as the webhook does."""
    now = utcnow()
    made = int((now - timedelta(seconds=seconds_ago)).timestamp())
    with writing() as session:
        store.apply_preference(session, PreferenceUpdate(wa_id, value, "marketing_messages", made, "109876543210"),
                               now)


@pytest.mark.asyncio
async def test_a_marketing_template_is_refused_after_a_marketing_stop(api):
    """diwali_sale to a number that stopped marketing: 409 marketing_opted_out with a hint, nothing queued."""
    add_contact(ASHA, last_inbound_at=utcnow() - timedelta(days=3))
    stop_marketing(ASHA)
    status, body = await api.call("POST", "/send", {"to": ASHA, "template": SALE})
    assert (status, body) == (409, {"error": "marketing_opted_out", "hint": "send a utility template"})
    assert outbox_rows() == []


@pytest.mark.asyncio
async def test_utility_templates_and_other_numbers_still_get_through(api):
    """After a marketing stop a utility template goes; a number that did not stop gets the marketing one."""
    add_contact(ASHA, last_inbound_at=utcnow() - timedelta(days=3))
    stop_marketing(ASHA)
    assert (await api.call("POST", "/send", {"to": ASHA, "template": UPDATE}))[0] == 202
    assert (await api.call("POST", "/send", {"to": RAVI, "template": SALE}))[0] == 202
    assert [r.payload["template"]["name"] for r in outbox_rows()] == ["order_update", "diwali_sale"]


@pytest.mark.asyncio
async def test_a_marketing_resume_lets_the_template_go_again(api):
    """A later resume lifts the refusal."""
    stop_marketing(ASHA, seconds_ago=60)
    stop_marketing(ASHA, "resume", seconds_ago=30)
    assert (await api.call("POST", "/send", {"to": ASHA, "template": SALE}))[0] == 202


@pytest.mark.asyncio
async def test_stop_still_wins_over_everything(api):
    """A number that sent STOP gets opted_out, not marketing_opted_out, for any template."""
    add_contact(ASHA, last_inbound_at=utcnow(), opted_out=True)
    stop_marketing(ASHA)
    for template in (SALE, UPDATE):
        assert await api.call("POST", "/send", {"to": ASHA, "template": template}) == (409, {"error": "opted_out"})


def test_marketing_templates_must_be_template_names():
    """A MARKETING_TEMPLATES entry that cannot be a template name stops start-up, naming the variable."""
    with pytest.raises(ConfigError, match="MARKETING_TEMPLATES"):
        ManagementConfig.from_env({"MARKETING_TEMPLATES": "diwali_sale,Spring Sale!"})
    assert ManagementConfig.from_env({}).marketing_templates == frozenset()
