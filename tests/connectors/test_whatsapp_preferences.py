"""Marketing stop/resume from Meta's `user_preferences` webhooks apply in timestamp order, not arrival order.

Posted as Meta posts them (signed) to the channel's real webhook; the contact's state is read back.
"""
from __future__ import annotations

from typing import Optional

import pytest
from sqlalchemy import select

from database.session import sessions
from connectors.whatsapp.tables import contacts
from tests.connectors.test_whatsapp_webhook import served  # noqa: F401 - the running channel
from tests.connectors.whatsapp_support import database, delivery, text, variant  # noqa: F401

KAVYA = "919800000004"  # the number in tests/fixtures/webhooks/user_preferences.json
T1, T2, T3 = 1_767_691_400, 1_767_691_500, 1_767_691_600


def preference(value: str, timestamp: int) -> dict:
    """Return Meta's user_preferences delivery: KAVYA stops or resumes marketing at timestamp."""
    body = variant("user_preferences", value)
    [item] = body["entry"][0]["changes"][0]["value"]["user_preferences"]
    item.update(wa_id=KAVYA, timestamp=timestamp)
    return body


def marketing_stopped() -> Optional[bool]:
    """Return the contact's marketing_stopped flag (None: no contact)."""
    with sessions()() as session:
        return session.scalar(select(contacts.c.marketing_stopped).where(contacts.c.wa_id == KAVYA))


@pytest.mark.parametrize(("order", "expected"), [
    ([("stop", T2), ("resume", T1)], True),  # a late resume from before the stop
    ([("stop", T2), ("resume", T3)], False),  # a resume after the stop
    ([("resume", T3), ("stop", T2), ("resume", T1)], False),  # Meta's redeliveries of older ones
    ([("stop", T2), ("resume", T3), ("stop", T2)], False),  # the stop replayed after the resume
    ([("resume", T1), ("stop", T2)], True),  # in order
], ids=["late_resume", "later_resume", "old_ones_late", "stop_replayed", "in_order"])
@pytest.mark.asyncio
async def test_the_newest_preference_wins_whatever_the_arrival_order(served, order, expected):  # noqa: F811
    """Each delivery is acknowledged; the contact ends with the choice of the newest timestamp."""
    for value, timestamp in order:
        assert await served.post(preference(value, timestamp)) == (200, {"status": "ok"})
    assert marketing_stopped() is expected


@pytest.mark.asyncio
async def test_a_stop_before_the_first_message_is_kept(served):  # noqa: F811
    """A number that stops marketing before it ever wrote is remembered, and stays stopped when it writes."""
    assert await served.post(preference("stop", T2)) == (200, {"status": "ok"})
    assert marketing_stopped() is True
    assert await served.post(delivery(text(KAVYA, "hi"))) == (200, {"status": "ok"})
    with sessions()() as session:  # the message is stored before the 200: the contact wrote now
        assert session.scalar(select(contacts.c.last_inbound_at).where(contacts.c.wa_id == KAVYA)) is not None
    assert marketing_stopped() is True
