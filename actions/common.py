"""What every action shares: the caller, the clock, settings and running SQL off the loop."""
from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Callable, Optional, TypeVar
from zoneinfo import ZoneInfo

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from database import customers
from database.views import CustomerView

T = TypeVar("T")


async def db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a synchronous query in a worker thread so the action server's loop stays free."""
    return await asyncio.to_thread(fn, *args, **kwargs)


@dataclass(frozen=True)
class Settings:
    """Contact details and wording that differ per deployment (environment variables)."""

    company: str
    support_phone: str
    support_email: str
    support_hours: str
    handoff_wait: str
    timezone: ZoneInfo


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Read the deployment's settings once."""
    return Settings(
        company=os.environ.get("COMPANY_NAME", "ACME Manufacturing"),
        support_phone=os.environ.get("SUPPORT_PHONE", "+91 261 400 0000"),
        support_email=os.environ.get("SUPPORT_EMAIL", "support@acme-manufacturing.example"),
        support_hours=os.environ.get("SUPPORT_HOURS", "Mon–Sat 9:00–18:00 IST"),
        handoff_wait=os.environ.get("HANDOFF_WAIT", "about 15 minutes during working hours"),
        timezone=ZoneInfo(os.environ.get("ASSISTANT_TIMEZONE", "Asia/Kolkata")),
    )


def today() -> date:
    """Return the date in the company's timezone."""
    from database.clock import local_today

    return local_today()


async def caller(tracker: Tracker) -> Optional[CustomerView]:
    """Return the registered person behind this conversation (the channel's sender id)."""
    return await db(customers.find_customer, tracker.sender_id)


def say_not_registered(dispatcher: CollectingDispatcher) -> None:
    """Tell an unknown number why data is not shown and where to go instead."""
    s = settings()
    dispatcher.utter_message(
        text=(
            "This number isn't registered with us, so I can't show orders, defects "
            f"or the production schedule.\nPlease contact {s.support_email} or "
            f"{s.support_phone} to register it. I can still help with FAQs and support — "
            "type *menu*."
        )
    )


def latest_entity(tracker: Tracker, entity: str) -> Optional[str]:
    """Return the first value of an entity in the latest user message."""
    return next(tracker.get_latest_entity_values(entity), None)


class CallerForm(FormValidationAction, ABC):
    """A form for registered numbers: an unknown number has no orders, so it finishes at once and the submit explains."""

    @abstractmethod
    def name(self) -> str:
        """Return the validation action's name."""

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """Ask for nothing when the caller is not registered, else for the domain's slots."""
        if await caller(tracker) is None:
            return []
        return domain_slots
