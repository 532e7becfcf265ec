"""Other WhatsApp libraries' webhook bodies (tests/fixtures/peer_payloads/), made fresh for a replay.

Pure: a stored body and a plan in, the body to POST and what each of its messages should get out.
The bodies are kept as their projects wrote them (SOURCES.md); only what a replay must change is
rewritten: message and status ids and timestamps (so dedupe and the 24-hour rule see new messages
sent now), the business number (when the body names one) and the sender.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

PEER_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "peer_payloads"
# One in this many bodies with a phone-number sender comes from a registered number.
REGISTERED_EVERY = 3


@dataclass(frozen=True)
class Expected:
    """One message of a replayed body and whether the channel should answer it."""

    wamid: str  # "" when the body's message has no id
    sender: str  # the wa_id or BSUID it comes from ("" when none)
    answer: bool
    why: str  # the kind, or the reason it gets no answer


@dataclass(frozen=True)
class Replay:
    """A stored body, who it will come from, and the lane it is sent in (bodies of one lane go in order)."""

    name: str
    body: Any
    sender: str  # replaces every phone-number `from` of the body
    lane: str


def load_bodies() -> list[tuple[str, Any]]:
    """Return (file stem, parsed body) for every stored body, sorted by name."""
    return [(path.stem, json.loads(path.read_text())) for path in sorted(PEER_DIR.glob("*.json"))]


def plan(bodies: list[tuple[str, Any]], registered: tuple[str, ...], stranger: Callable[[int], str]) -> list[Replay]:
    """Give each body a sender: every REGISTERED_EVERY-th body with a phone-number sender gets a registered number
    (in turn), every other body a stranger of its own.

    Bodies from one registered number share a lane (sent one after another, as one person would);
    every other body has a lane of its own.
    """
    replays: list[Replay] = []
    with_messages = 0
    for index, (name, body) in enumerate(bodies):
        sender, lane = stranger(index), name
        if any(m.get("from") for m in _messages(body)):
            if with_messages % REGISTERED_EVERY == 0:
                sender = registered[(with_messages // REGISTERED_EVERY) % len(registered)]
                lane = sender
            with_messages += 1
        replays.append(Replay(name, body, sender, lane))
    return replays


def refresh(replay: Replay, phone_number_id: str, now: int, new_id: Callable[[str], str]) -> tuple[Any, list[Expected]]:
    """Return the body to POST (fresh ids, now, our number, the planned sender) and each message's expectation."""
    body = copy.deepcopy(replay.body)
    expected: list[Expected] = []
    for value in _values(body):
        metadata = value.get("metadata")
        addressed = isinstance(metadata, dict) and "phone_number_id" in metadata
        if addressed:
            metadata["phone_number_id"] = phone_number_id
        senders: dict[str, str] = {}
        user_ids: dict[str, str] = {}
        for message in _items(value, "messages"):
            if message.get("from"):
                senders[str(message["from"])] = message["from"] = replay.sender
            elif message.get("from_user_id"):  # a username user: only a BSUID, no phone number
                old = str(message["from_user_id"])
                user_ids[old] = message["from_user_id"] = user_ids.get(old) or f"US.{replay.sender}{len(user_ids)}"
            _refresh_item(message, new_id("wamid.peer"), now)
        contacts = _items(value, "contacts")
        for contact in contacts:
            if str(contact.get("wa_id")) in senders:
                contact["wa_id"] = senders[str(contact["wa_id"])]
            if str(contact.get("user_id")) in user_ids:
                contact["user_id"] = user_ids[str(contact["user_id"])]
        expected.extend(expect(message, addressed, contacts) for message in _items(value, "messages"))
        for status in _items(value, "statuses"):
            _refresh_item(status, new_id("wamid.peerstatus"), now)
        for preference in _items(value, "user_preferences"):
            _refresh_item(preference, "", now)
    return body, expected


def expect(message: dict[str, Any], addressed: bool, contacts: list[dict[str, Any]]) -> Expected:
    """Say whether the channel answers this (refreshed) message, and why not when it does not.

    A message without `from` or `from_user_id` is from the value's contact when it names only one.
    """
    wamid = str(message.get("id") or "")
    sole = contacts[0] if len(contacts) == 1 else {}
    sender = str(message.get("from") or message.get("from_user_id") or sole.get("wa_id") or sole.get("user_id") or "")
    kind = str(message.get("type") or "missing")
    reaction = message.get("reaction")
    if not addressed:
        silence = "no metadata.phone_number_id: not addressed to our number"
    elif not wamid:
        silence = "no message id: exactly-once needs the wamid"
    elif not sender:
        silence = "no sender"
    elif kind == "system":
        silence = "system notice (number or identity changed)"
    elif kind == "revoke":
        silence = "message deleted by the user"
    elif kind == "reaction" and not (isinstance(reaction, dict) and reaction.get("emoji")):
        silence = "reaction removed"
    else:
        return Expected(wamid, sender, True, kind)
    return Expected(wamid, sender, False, silence)


def is_meta_shaped(body: Any) -> bool:
    """Return True for Meta's envelope: object whatsapp_business_account and entries with a changes list."""
    return (isinstance(body, dict) and body.get("object") == "whatsapp_business_account"
            and isinstance(body.get("entry"), list) and bool(body["entry"])
            and all(isinstance(e, dict) and isinstance(e.get("changes"), list) for e in body["entry"]))


def _refresh_item(item: dict[str, Any], new_id: str, now: int) -> None:
    """Give an item a new id (only if it had one) and the current time, as a string unless it was a number."""
    if item.get("id") and new_id:
        item["id"] = new_id
    if "timestamp" in item:
        item["timestamp"] = now if isinstance(item["timestamp"], int) else str(now)


def _values(body: Any) -> Iterator[dict[str, Any]]:
    """Yield every change's value dict."""
    entries = body.get("entry") if isinstance(body, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            if isinstance(change, dict) and isinstance(change.get("value"), dict):
                yield change["value"]


def _items(value: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Return the dict items of value[key]."""
    items = value.get(key)
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _messages(body: Any) -> Iterator[dict[str, Any]]:
    """Yield every message of a body."""
    for value in _values(body):
        yield from _items(value, "messages")
