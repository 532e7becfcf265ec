"""One running assistant (REST channel) shared by the end-to-end tests of a session."""
from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.harness import running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real action server and Rasa server over a fresh seeded SQLite file."""
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


class Chat:
    """Talk to the assistant over the REST channel as one WhatsApp number."""

    def __init__(self, rasa_url: str, sender: str) -> None:
        self.url = f"{rasa_url}/webhooks/rest/webhook"
        self.sender = sender

    def say(self, text: str) -> list[dict[str, Any]]:
        """Send one message and return the bot's replies."""
        body = json.dumps({"sender": self.sender, "message": text}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def text(self, text: str) -> str:
        """Send one message and return all reply texts joined by newlines."""
        return "\n".join(r.get("text", "") for r in self.say(text))


@pytest.fixture
def chat(stack):
    """Open a chat as a given number, starting from a fresh conversation."""

    def open_chat(number: str) -> Chat:
        chat = Chat(stack.rasa_url, number)
        chat.say("/restart")
        return chat

    return open_chat
