"""Other WhatsApp libraries' webhook bodies, replayed signed against the real assistant and the Graph stand-in.

tests/fixtures/peer_payloads/ holds the bodies (sources and licences in its SOURCES.md); each is sent as
its project wrote it, with fresh message and status ids, the current time, our phone number id when
the body names one, and a registered or stranger sender (tests/e2e/peer_payloads.py).

What the channel answers (connectors/whatsapp/updates.py, worker.py): text; taps on reply buttons and
list rows and template quick-reply buttons (their payload goes to Rasa); photos, documents, voice notes
and videos (the caption, else an empty "inform"); and with "Sorry, I can't read that kind of message…":
stickers, locations, contacts cards, catalogue orders, reactions with an emoji, and every type it does
not read (unsupported, unknown, edits, flow and call-permission replies, interactive
without a subtype). A message naming no sender (no `from`, no `from_user_id`) is from the delivery's
contact when it lists only one (netflie's BSUID-only body), and is answered there.

What it deliberately does not answer, and why:
- statuses (sent, delivered, read, played, failed, unknown values): they move our outbox rows, nobody wrote;
- changes that carry no `messages` (account, template, phone number, calls, message echoes, preferences):
  business events, not a customer writing; a marketing stop or resume is recorded, not answered;
- system messages (number or identity changed): a notice from WhatsApp, not from the person;
- a reaction removed (no emoji or an empty one): taking a reaction back asks nothing;
- a message the customer deleted (revoke): deleting asks nothing, and "I can't read that" would puzzle them;
- a body without metadata.phone_number_id (Chatwoot's fixtures): not addressed to our number, and one
  app's webhook may serve several numbers;
- a message without an id (Chatwoot's fixtures; Meta always sends one): exactly-once needs the wamid;
- a message without any sender (no `from`, no `from_user_id`, no single contact; Chatwoot's system
  messages): there is nobody to answer.
"""
from __future__ import annotations

import sqlite3
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.peer_payloads import (PEER_DIR, Expected, Replay, is_meta_shaped, load_bodies, plan,
                                     refresh)
from tests.e2e.whatsapp_fixtures import PHONE_NUMBER_ID, WhatsAppStack, whatsapp  # noqa: F401
from tests.fakes.graph_state import digits

REGISTERED = ("919800000001", "919800000002", "919800000009")  # Asha, Ravi (customers), Priya (staff)
LANES = 12  # bodies in flight at once
ANSWER_TIMEOUT = 90.0
QUIET = 2.0  # after the last expected answer: time for an unexpected one to show up
NAMES = sorted(path.stem for path in PEER_DIR.glob("*.json"))
# Message types (as Meta writes them) among the bodies that must get an answer, and the reasons for silence.
ANSWERED_TYPES = {"text", "interactive", "button", "image", "document", "audio", "video", "sticker", "location",
                  "contacts", "order", "reaction", "unsupported", "unknown", "edit"}
SILENCES = {"no metadata.phone_number_id", "no sender", "system notice (number or identity changed)",
            "reaction removed", "message deleted by the user"}


@dataclass(frozen=True)
class Outcome:
    """What one replayed body got from the webhook, and what its messages should get."""

    replay: Replay
    status: int
    answer: Any
    expected: tuple[Expected, ...]


@dataclass(frozen=True)
class Replayed:
    """Every body's outcome, and the recipients each inbound wamid's accepted replies went to."""

    outcomes: dict[str, Outcome]
    answered: dict[str, set[str]]
    turns: dict[str, tuple[str, int, Any]]  # stored wamid -> (state, attempts, last_error)


def stranger(index: int) -> str:
    """Return an unregistered number of its own for the index-th body."""
    return f"91970000{index:04d}"


def new_id(prefix: str) -> str:
    """Return an id no earlier run or body used."""
    return f"{prefix}{uuid.uuid4().hex}"


def answered(whatsapp: WhatsAppStack) -> dict[str, set[str]]:
    """Map each inbound wamid to the recipients of the stand-in's accepted sends that answer it."""
    recipients: dict[int, str] = {}
    for record in whatsapp.graph.accepted():
        callback = str(record.body.get("biz_opaque_callback_data", ""))
        if callback.startswith("outbox:"):
            to = record.body.get("to") or record.body.get("recipient")  # a BSUID goes as "recipient"
            recipients[int(callback.removeprefix("outbox:"))] = digits(to)
    rows = query(whatsapp, "SELECT id, inbound_wamid FROM whatsapp_outbox")
    result: dict[str, set[str]] = {}
    for row_id, wamid in rows:
        if row_id in recipients:
            result.setdefault(wamid, set()).add(recipients[row_id])
    return result


def query(whatsapp: WhatsAppStack, sql: str) -> list[tuple[Any, ...]]:
    """Read rows from the stack's database."""
    path = whatsapp.stack.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        return db.execute(sql).fetchall()


def wait_answered(whatsapp: WhatsAppStack, wamids: set[str], timeout: float) -> None:
    """Wait until every wamid has an accepted reply, or timeout."""
    deadline = time.monotonic() + timeout
    while not wamids <= answered(whatsapp).keys() and time.monotonic() < deadline:
        time.sleep(0.25)


def send_lane(whatsapp: WhatsAppStack, lane: list[Replay]) -> list[Outcome]:
    """Send a lane's bodies in order; with more to come, wait for each one's answers first (one person's chat)."""
    outcomes = []
    for replay in lane:
        body, expected = refresh(replay, PHONE_NUMBER_ID, int(time.time()), new_id)
        try:
            status, answer = whatsapp.post(body)
        except OSError as exc:  # a dropped connection is an outcome too
            status, answer = 0, repr(exc)
        outcomes.append(Outcome(replay, status, answer, tuple(expected)))
        if len(lane) > 1:
            wait_answered(whatsapp, {e.wamid for e in expected if e.answer}, 30.0)
    return outcomes


@pytest.fixture(scope="module")
def replayed(whatsapp: WhatsAppStack) -> Replayed:
    """Replay every body (lanes in parallel), wait for the answers and a quiet moment; return what happened."""
    lanes: dict[str, list[Replay]] = {}
    for replay in plan(load_bodies(), REGISTERED, stranger):
        lanes.setdefault(replay.lane, []).append(replay)
    started = time.monotonic()
    with ThreadPoolExecutor(LANES) as pool:
        outcomes = {o.replay.name: o for lane in pool.map(lambda l: send_lane(whatsapp, l), lanes.values())
                    for o in lane}
    expected = {e.wamid for o in outcomes.values() for e in o.expected if e.answer}
    wait_answered(whatsapp, expected, ANSWER_TIMEOUT)
    time.sleep(QUIET)
    turns = {wamid: (state, attempts, error) for wamid, state, attempts, error in query(
        whatsapp, "SELECT wamid, state, attempts, last_error FROM whatsapp_inbound")}
    result = Replayed(outcomes, answered(whatsapp), turns)
    print(f"\npeer payloads: {summary(result)} in {time.monotonic() - started:.1f}s")
    return result


def summary(result: Replayed) -> str:
    """Count bodies by HTTP status and messages by outcome."""
    statuses = Counter(o.status for o in result.outcomes.values())
    messages = Counter(
        ("answered" if e.wamid in result.answered else "unanswered") + ("" if e.answer else " (silence expected)")
        for o in result.outcomes.values() for e in o.expected)
    return f"{len(result.outcomes)} bodies, HTTP {dict(statuses)}; messages {dict(messages)}"


@pytest.mark.parametrize("name", NAMES)
def test_body_gets_no_server_error_and_a_meta_shaped_one_is_acknowledged(replayed, name):
    """Each body gets no 5xx, and one in Meta's envelope gets 200 {"status": "ok"}."""
    outcome = replayed.outcomes[name]
    assert 0 < outcome.status < 500, outcome.answer
    if is_meta_shaped(outcome.replay.body):
        assert (outcome.status, outcome.answer) == (200, {"status": "ok"})


@pytest.mark.parametrize("name", NAMES)
def test_each_message_is_answered_unless_the_channel_deliberately_stays_silent(replayed, whatsapp, name):
    """Each message that expects an answer gets one on its sender's phone; the others get nothing."""
    outcome = replayed.outcomes[name]
    for expected in outcome.expected:
        if expected.answer:
            assert replayed.answered.get(expected.wamid) == {digits(expected.sender)}, expected
        else:
            assert expected.wamid not in replayed.answered, expected
    if outcome.replay.sender not in REGISTERED and not any(e.answer for e in outcome.expected):
        assert whatsapp.graph.sent_to(outcome.replay.sender) == []


@pytest.mark.parametrize("name", NAMES)
def test_each_stored_message_finished_on_its_first_try(replayed, name):
    """No message of a body failed, hung or crashed its turn: each stored one is done (or ignored) after one try."""
    for expected in replayed.outcomes[name].expected:
        if expected.wamid in replayed.turns:
            state = "done" if expected.answer else "ignored"
            assert replayed.turns[expected.wamid] == (state, 1, None), expected


def test_the_replay_covers_every_kind_of_answer_and_of_silence(replayed):
    """The bodies exercise every message kind the channel answers and every reason it stays silent."""
    expected = [e for o in replayed.outcomes.values() for e in o.expected]
    assert len(replayed.outcomes) == len(NAMES) >= 140
    assert {e.why for e in expected if e.answer} == ANSWERED_TYPES
    assert {e.why.split(":")[0] for e in expected if not e.answer} == SILENCES
    assert {o.replay.sender for o in replayed.outcomes.values()} >= set(REGISTERED)
