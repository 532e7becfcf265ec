"""Simulator settings: the same WHATSAPP_* variables the channel reads, plus the demo numbers.

The simulator plays Meta, so it needs what Meta and the channel share: the access token the channel
sends (WHATSAPP_API_TOKEN), the business number (WHATSAPP_PHONE_NUMBER_ID) and the App Secret that
signs webhooks (WHATSAPP_APP_SECRET). Like the channel, it refuses to start without them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from simulator.deliveries import Business
from simulator.graph_state import DEFAULT_VERSION

REQUIRED = ("WHATSAPP_API_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET")
DEFAULT_RASA_WEBHOOK = "http://127.0.0.1:5005/webhooks/whatsapp/webhook"
DEFAULT_BUSINESS_NAME = "ACME Manufacturing"


class SettingsError(Exception):
    """The simulator cannot start: settings are missing or invalid."""


@dataclass(frozen=True)
class DemoNumber:
    """A WhatsApp user the page can act as."""

    wa_id: str
    profile_name: str
    label: str  # what the picker shows after the name

    def to_dict(self) -> dict[str, str]:
        """Return the JSON the page reads."""
        return {"wa_id": self.wa_id, "profile_name": self.profile_name, "label": self.label}


# The seeded people (database/seed.py): two customers, one staff member, and a stranger.
DEMO_NUMBERS = (
    DemoNumber("919800000001", "Asha Mehta", "Asha Traders"),
    DemoNumber("919800000002", "Ravi Kumar", "Bharat Textiles"),
    DemoNumber("919800000009", "Priya Shah", "staff"),
    DemoNumber("919800000099", "Neha Joshi", "unregistered"),
)


@dataclass(frozen=True)
class Settings:
    """Everything the simulator needs; secrets are left out of repr."""

    api_token: str = field(repr=False)
    app_secret: str = field(repr=False)
    phone_number_id: str
    business_account_id: str = "102030405060"
    display_phone_number: str = "15550001234"
    api_version: str = DEFAULT_VERSION
    rasa_webhook: str = DEFAULT_RASA_WEBHOOK
    business_name: str = DEFAULT_BUSINESS_NAME
    numbers: tuple[DemoNumber, ...] = DEMO_NUMBERS

    @property
    def business(self) -> Business:
        """Return the business number deliveries are addressed to."""
        return Business(self.phone_number_id, self.business_account_id, self.display_phone_number)

    def profile_name(self, wa_id: str) -> str:
        """Return the profile name WhatsApp shows for a number."""
        for number in self.numbers:
            if number.wa_id == wa_id:
                return number.profile_name
        return "WhatsApp user"

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any) -> Settings:
        """Build settings from WHATSAPP_* variables; keyword overrides (not None) win."""
        env = os.environ if environ is None else environ
        values = {
            "api_token": env.get("WHATSAPP_API_TOKEN", "").strip(),
            "app_secret": env.get("WHATSAPP_APP_SECRET", "").strip(),
            "phone_number_id": env.get("WHATSAPP_PHONE_NUMBER_ID", "").strip(),
            "business_account_id": env.get("WHATSAPP_BUSINESS_ACCOUNT_ID", "").strip() or "102030405060",
            "api_version": env.get("WHATSAPP_API_VERSION", "").strip() or DEFAULT_VERSION,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        missing = [name for name, key in zip(REQUIRED, ("api_token", "phone_number_id", "app_secret"))
                   if not values.get(key)]
        if missing:
            raise SettingsError("The simulator needs these environment variables: " + ", ".join(missing))
        return cls(**values)
