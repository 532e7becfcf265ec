"""The real assistant behind the WhatsApp channel, with the simulator playing Meta, for browser tests.

The same processes `scripts/run.sh` starts: the action server and `rasa run` with the WhatsApp channel
and the management API (tests/harness.py, over a fresh seeded SQLite file), and `python -m simulator`,
which serves the chat page, signs webhooks with the App Secret and is the channel's Graph API
(WHATSAPP_GRAPH_API_URL). Fresh secrets per run; everything on 127.0.0.1.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Iterator

import pytest

from tests.harness import ROOT, Service, Stack, free_port, keep_logs, running_stack, start, wait_http

PHONE_NUMBER_ID = "109876543210"


@dataclass
class RealStack:
    """A running assistant and the simulator in front of it."""

    url: str  # the simulator: chat page and Graph API root
    stack: Stack
    simulator: Service
    management_token: str  # MANAGEMENT_API_TOKEN of the management API at {rasa_url}/api/whatsapp


@pytest.fixture(scope="module")
def real_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    """Start the action server, Rasa with the WhatsApp channel and the simulator; stop them afterwards."""
    token, app_secret, verify, management_token = (secrets.token_hex(24) for _ in range(4))
    workdir = tmp_path_factory.mktemp("real-assistant")
    simulator_url = f"http://127.0.0.1:{free_port()}"
    whatsapp_env = {
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": "102030405060",
        "WHATSAPP_API_TOKEN": token, "WHATSAPP_APP_SECRET": app_secret,
        "WHATSAPP_WEBHOOK_VERIFY_TOKEN": verify, "WHATSAPP_GRAPH_API_URL": simulator_url,
        "WHATSAPP_MEDIA_DIR": str(workdir / "media"),
        "MANAGEMENT_API_TOKEN": management_token, "NOTIFY_SCAN_SECONDS": "0",
    }
    credentials = workdir / "credentials.yml"
    credentials.write_text("connectors.whatsapp.WhatsAppInput:\nconnectors.management.channel.ManagementInput:\nrest:\n")
    try:
        with running_stack(workdir, credentials=credentials, extra_env=whatsapp_env) as stack:
            command = ["python", "-m", "simulator", "--port", simulator_url.rsplit(":", 1)[1],
                       "--rasa-webhook", f"{stack.rasa_url}/webhooks/whatsapp/webhook"]
            simulator = start(command, stack.env, workdir / "simulator.log")
            try:
                wait_http(f"{simulator_url}/", proc=simulator.proc, timeout=30)
                yield RealStack(simulator_url, stack, simulator, management_token)
            finally:
                simulator.stop()
    finally:
        keep_logs(workdir, ROOT / "var" / "browser-logs" / workdir.name)

