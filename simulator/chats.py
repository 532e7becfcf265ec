"""What each simulated phone shows: its chat history, delivery ticks and the typing indicator.

One `Chat` per WhatsApp number. Every change bumps the chat's version, so the page can ask
"what changed since version N?" and wait (long-poll) until something does.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

# Business messages: accepted by the stand-in, then the statuses Meta posts; monotonic.
BUSINESS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3}
# User messages: posting, then acked with 200 (two ticks), then marked read by the business.
USER_RANK = {"pending": 0, "error": 1, "delivered": 1, "read": 2}
TYPING_SECONDS = 25.0  # WhatsApp hides the typing indicator after 25 s or at the next reply


@dataclass
class ChatItem:
    """One bubble: a message the user sent (side "user") or one the business sent."""

    wamid: str
    side: str  # "user" or "business"
    time: float
    message: dict[str, Any]  # the webhook message (user) or the /messages body (business)
    status: str
    error: str = ""
    version: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON the page reads."""
        return asdict(self)


@dataclass
class Chat:
    """The history of one number, with a version counter and a wake-up for waiters."""

    wa_id: str
    items: list[ChatItem] = field(default_factory=list)
    version: int = 0
    typing_until: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def touch(self, item: Optional[ChatItem] = None) -> None:
        """Record a change (to item, if given) and wake everyone waiting for one."""
        self.version += 1
        if item is not None:
            item.version = self.version
        self.changed.set()
        self.changed = asyncio.Event()


class ChatBook:
    """All chats, keyed by wa_id, with an index from wamid to its bubble."""

    def __init__(self) -> None:
        self._chats: dict[str, Chat] = {}
        self._by_wamid: dict[str, tuple[Chat, ChatItem]] = {}

    def wake_all(self) -> None:
        """Wake every waiter (at shutdown); they answer with whatever changed, maybe nothing."""
        for chat in self._chats.values():
            chat.changed.set()

    def chat(self, wa_id: str) -> Chat:
        """Return the chat of a number, creating an empty one."""
        if wa_id not in self._chats:
            self._chats[wa_id] = Chat(wa_id)
        return self._chats[wa_id]

    def add(self, wa_id: str, item: ChatItem) -> ChatItem:
        """Append a bubble to a number's chat."""
        chat = self.chat(wa_id)
        chat.items.append(item)
        self._by_wamid[item.wamid] = (chat, item)
        if item.side == "business":
            chat.typing_until = 0.0  # a reply ends the typing indicator
        chat.touch(item)
        return item

    def find(self, wamid: str) -> Optional[ChatItem]:
        """Return the bubble with this wamid, or None."""
        found = self._by_wamid.get(wamid)
        return found[1] if found else None

    def advance(self, wamid: str, status: str, error: str = "") -> bool:
        """Move a bubble's status forward (never back); return True if it changed."""
        found = self._by_wamid.get(wamid)
        if found is None:
            return False
        chat, item = found
        ranks = BUSINESS_RANK if item.side == "business" else USER_RANK
        if ranks.get(status, -1) <= ranks.get(item.status, -1) and not (status == "error" and error):
            return False
        item.status, item.error = status, error
        chat.touch(item)
        return True

    def mark_read_by_business(self, wamid: str, typing: bool, now: Optional[float] = None) -> None:
        """The business read a user's message (and so every earlier one); maybe start typing."""
        found = self._by_wamid.get(wamid)
        if found is None:
            return
        chat, read = found
        changed = [item for item in chat.items
                   if item.side == "user" and item.status == "delivered" and item.time <= read.time]
        for item in changed:
            item.status = "read"
        if typing:
            chat.typing_until = (time.time() if now is None else now) + TYPING_SECONDS
        chat.touch()
        for item in changed:
            item.version = chat.version

    def changes(self, wa_id: str, since: int, now: Optional[float] = None) -> dict[str, Any]:
        """Return the bubbles changed after version since, the version and the typing state.

        A since beyond the chat's version (the page outlived a restart) gets everything, with reset.
        """
        chat = self.chat(wa_id)
        reset = since > chat.version
        since = 0 if reset else since
        left = chat.typing_until - (time.time() if now is None else now)
        return {"version": chat.version,
                "items": [item.to_dict() for item in chat.items if item.version > since],
                "typing_ms": int(left * 1000) if left > 0 else 0, "reset": reset}

    async def wait_for_changes(self, wa_id: str, since: int, timeout: float) -> dict[str, Any]:
        """Return changes after version since, waiting up to timeout seconds for the first one."""
        chat = self.chat(wa_id)
        if chat.version == since and timeout > 0:
            try:
                await asyncio.wait_for(chat.changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return self.changes(wa_id, since)
