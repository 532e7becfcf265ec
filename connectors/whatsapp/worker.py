"""Hand stored inbound messages to Rasa: one sender at a time, in order, each turn exactly once.

The ingress writer names the senders with new messages after its commit; the worker claims each
sender's next message, runs the turn, and records the outcome in one transaction (the message
done, its replies queued, a STOP/START applied), after which the sender is told. The output channel
only collects replies keyed (inbound wamid, seq), so a turn that is re-run or rebuilt after a crash
cannot add a second copy. A message claimed again (attempts > 1) whose
UserUttered is already in the tracker is not run again: its replies are rebuilt from the
BotUttered events of that turn and enqueued under the same keys.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional, Protocol, Sequence

from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import LockError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from components.text import clean_text
from connectors.whatsapp import store
from connectors.whatsapp.background import STOP_GRACE_SECONDS, KeyedWork, Leases, log_failure
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.errors import GraphError
from connectors.whatsapp.graph import GraphClient
from connectors.whatsapp.outbox import OutboxItem, OutboxView
from connectors.whatsapp.media_fetch import media_for_turn
from connectors.whatsapp.render import SHORT_ID_PREFIX
from connectors.whatsapp.store import InboundView

logger = logging.getLogger(__name__)

# A message is tried at most this often. A try counts when the message is claimed, so a turn that
# killed or hung the process (no exception ever raised) also counts once it is claimed again.
MAX_ATTEMPTS = 3
# One polite answer when a message is given up, keyed (wamid, GIVE_UP_SEQ): it is enqueued exactly
# once, apart from any replies the failed turn already made (seq 0, 1, ...; the template is -1).
GIVE_UP_SEQ = -2
GIVE_UP_KIND = "give_up"
GIVE_UP_TEXT = "Sorry, I couldn't process that message. Please send it again in a shorter form, or type *menu*."
# A shared service down (Redis lock store, PostgreSQL): not the message's fault, so it never uses up
# MAX_ATTEMPTS; the sender is retried after a growing pause.
UNAVAILABLE_ERRORS = (LockError, RedisConnectionError, RedisTimeoutError, OperationalError, InterfaceError)
UNAVAILABLE_MARK = "unavailable"  # last_error of a message put back during an outage
UNAVAILABLE_FIRST_SECONDS = 0.5
UNAVAILABLE_MAX_SECONDS = 10.0
RECORD_RETRY_SECONDS = 60.0  # how long a turn's outcome is written again while the database is out
FAILED_RETRY_SECONDS = 0.2  # a failed try is tried again after this pause, not in a tight loop
NOT_READY_RETRY_SECONDS = 0.2  # Rasa still loading its model
STOP_WORDS = frozenset({"STOP", "UNSUBSCRIBE", "STOP ALL", "STOPALL", "OPT OUT", "OPTOUT"})
START_WORDS = frozenset({"START", "SUBSCRIBE", "UNSTOP"})
SILENT_KINDS = frozenset({"system"})  # no reply expected (also a removed reaction, a deleted message)
NOT_UNDERSTOOD_KINDS = frozenset({"location", "contacts", "sticker", "reaction", "order", "unsupported"})
DOWNLOAD_KINDS = frozenset({"image", "document", "audio", "video"})  # fetched only where a form step asks
CHOICE_KINDS = frozenset({"button_reply", "list_reply", "template_button"})
# What Rasa reads for a photo, document, voice note or video sent without a caption: an "inform"
# with no entities. A form asking for a file (the defect form's photo step) takes the file from
# metadata["media"]; anywhere else a stray inform shows the menu (and the file is not downloaded).
MEDIA_ONLY_TEXT = "/inform"
OPTED_OUT_TEXT = "You will not get any more messages from us. Send START to talk to us again."
OPTED_IN_TEXT = "Welcome back! Send hi to see the menu."
NOT_UNDERSTOOD_TEXT = ("Sorry, I can't read that kind of message. Please send text, tap an option, "
                       "or send a photo or document (for example of a defect).")


class TurnOutput(Protocol):
    """The output channel of one turn: its replies are collected, to be recorded with the outcome."""

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Render one Rasa response into the collected replies."""

    def collect(self, into: list[OutboxItem]) -> None:
        """Append the replies to into instead of queuing them."""


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
MakeOutput = Callable[..., TurnOutput]  # (wa_id, inbound wamid, kind[, first seq])
TrackerOf = Callable[[str], Awaitable[Optional[DialogueStateTracker]]]
HandToSender = Callable[[str, list[OutboxView]], None]  # (wa_id, its rows claimed for sending), any thread


@dataclass
class Outcome:
    """What a turn leaves to record with its message: the replies and a STOP/START."""

    replies: list[OutboxItem] = field(default_factory=list)
    opted_out: Optional[bool] = None


def outage_pause(failures: int) -> float:
    """Return the pause after failures outages in a row: 0.5 s, doubling up to 10 s."""
    return min(UNAVAILABLE_MAX_SECONDS, UNAVAILABLE_FIRST_SECONDS * 2 ** (failures - 1))


class InboundWorker(KeyedWork):
    """Drain each sender's pending messages into Rasa, oldest first."""

    name = "in"

    def __init__(self, config: WhatsAppConfig, graph: GraphClient, leases: Leases,
                 on_new_message: OnNewMessage, make_output: MakeOutput, tracker_of: TrackerOf,
                 ready: Callable[[], bool] = lambda: True, hand_to_sender: Optional[HandToSender] = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("concurrency", config.turn_concurrency)
        super().__init__(leases, **kwargs)
        self.hand_to_sender = hand_to_sender
        self.config = config
        self.graph = graph
        self.on_new_message = on_new_message
        self.make_output = make_output
        self.tracker_of = tracker_of
        self.ready = ready
        self._side_tasks: set[asyncio.Task] = set()
        self._unavailable: dict[str, tuple[int, float]] = {}  # wa_id -> (failures in a row, retry at)
        self._outcomes: dict[int, Outcome] = {}  # inbound id -> what its turn collected so far
        self.turn_timeout = config.turn_timeout_seconds

    async def find_work(self) -> list[str]:
        """Return senders with a claimable message, if Rasa can take them (not those waiting out an outage)."""
        if not self.ready():
            return []
        senders = await asyncio.to_thread(store.senders_with_work)
        if not self._unavailable:
            return senders
        now = asyncio.get_running_loop().time()
        return [s for s in senders if self._unavailable.get(s, (0, now))[1] <= now]

    async def drain(self, wa_id: str) -> None:
        """Handle this sender's messages one at a time until none is left."""
        owner = self.leases.owner
        while not self.stopping:
            if not self.ready():
                self.notify_later(wa_id, NOT_READY_RETRY_SECONDS)
                return
            message = await asyncio.to_thread(store.claim_next_inbound, wa_id, owner, self.leases.ttl)
            if message is None:
                return
            self.leases.inbound.add(message.id)
            outcome = self._outcomes[message.id] = Outcome()
            try:
                try:
                    state, error = await self._handle_logged(message)
                finally:
                    self._outcomes.pop(message.id, None)
                recorded = await self._record(message, state, error, outcome)
            finally:
                # Renewed until the outcome is written: a slow write must not let another instance
                # take the message and run its turn a second time.
                self.leases.inbound.discard(message.id)
            if recorded.sending and self.hand_to_sender is not None:
                self.leases.outbox.update(row.id for row in recorded.sending)
                self.hand_to_sender(wa_id, list(recorded.sending))
            if state == "pending":
                self.notify_later(wa_id, self._retry_pause(wa_id, error))
                return
            if not recorded.more:
                return

    async def _record(self, message: InboundView, state: str, error: Optional[str],
                      outcome: Outcome) -> store.TurnRecorded:
        """Write the turn's outcome; while the database is out, write it again after a pause (0.5 s
        doubling to 10 s) for up to RECORD_RETRY_SECONDS, so the turn is not run again nor charged a try.

        The lease is renewed meanwhile. Past that, or when stopping, the error is raised: the lease
        lapses, and the next claim rebuilds the turn's replies from the tracker under the same keys.
        """
        send_ttl = self.leases.ttl if self.hand_to_sender is not None else None
        # An outage put the message back: that try was not the message's fault, so it is returned.
        refund = error == UNAVAILABLE_MARK
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + RECORD_RETRY_SECONDS
        failures = 0
        while True:
            try:
                return await asyncio.to_thread(store.finish_turn, message, self.leases.owner, state, error,
                                               outcome.replies, outcome.opted_out, refund_attempt=refund,
                                               send_ttl=send_ttl)
            except DBAPIError as exc:
                failures += 1
                delay = outage_pause(failures)
                if not is_unavailable(exc) or self.stopping or loop.time() + delay > give_up_at:
                    raise
                log_failure("whatsapp.inbound.record_unavailable", exc, logging.WARNING, wamid=message.wamid,
                            failures=failures, retry_in=f"{delay:.1f}s")
                await asyncio.sleep(delay)

    def _retry_pause(self, wa_id: str, error: Optional[str]) -> float:
        """Return how long a message put back waits before its next try."""
        if error != UNAVAILABLE_MARK:
            return FAILED_RETRY_SECONDS
        retry_at = self._unavailable.get(wa_id, (0, 0.0))[1]
        return max(FAILED_RETRY_SECONDS, retry_at - asyncio.get_running_loop().time())

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop like KeyedWork, then drop mark-as-read calls still running."""
        await super().stop(grace)
        for task in list(self._side_tasks):
            task.cancel()

    async def _handle_logged(self, message: InboundView) -> tuple[str, Optional[str]]:
        """Handle one message; on failure log it and say whether to retry it or give up."""
        try:
            if message.attempts > MAX_ATTEMPTS:
                # Claimed more often than allowed without finishing: its turn kills or hangs us.
                logger.warning("whatsapp.inbound.given_up wamid=%s attempt=%s reason=unfinished",
                               message.wamid, message.attempts)
                await self.give_up(message)
                return "ignored", "gave up: unfinished tries"
            state = await self.handle(message)
            self._unavailable.pop(message.wa_id, None)
            return state, None
        except asyncio.CancelledError:
            # Shutting down mid-turn: put it back, with nothing the turn collected, so the next start
            # (or instance) finishes it, rebuilding its replies if Rasa already logged it.
            await asyncio.shield(asyncio.to_thread(store.finish_turn, message, self.leases.owner,
                                                   "pending", "cancelled"))
            raise
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the sender's queue
            if is_unavailable(exc):
                delay = self._wait_out_outage(message.wa_id)
                log_failure("whatsapp.inbound.unavailable", exc, logging.WARNING, wamid=message.wamid,
                            attempt=message.attempts, retry_in=f"{delay:.1f}s")
                return "pending", UNAVAILABLE_MARK
            self._unavailable.pop(message.wa_id, None)
            log_failure("whatsapp.inbound.failed", exc, logging.ERROR, wamid=message.wamid,
                        attempt=message.attempts)
            if message.attempts < MAX_ATTEMPTS:
                return "pending", type(exc).__name__[:120]
            return await self._give_up_logged(message), type(exc).__name__[:120]

    async def _give_up_logged(self, message: InboundView) -> str:
        """Give up a message after its last failed try; if even the apology cannot be stored, retry later."""
        logger.warning("whatsapp.inbound.given_up wamid=%s attempt=%s reason=failed", message.wamid,
                       message.attempts)
        try:
            await self.give_up(message)
        except Exception as exc:  # noqa: BLE001 - the outbox is down: the next claim gives up again
            log_failure("whatsapp.inbound.give_up_failed", exc, logging.WARNING, wamid=message.wamid)
            return "pending"
        return "ignored"

    async def give_up(self, message: InboundView) -> None:
        """Enqueue the one polite answer to a message that will not be tried again."""
        if message.opted_out or is_silent(message.kind, message.meta):
            return  # no answer to those anyway
        output = self._output_for(message, GIVE_UP_KIND, GIVE_UP_SEQ)
        await output.send_response(message.wa_id, {"text": GIVE_UP_TEXT})

    def _wait_out_outage(self, wa_id: str) -> float:
        """Hold the sender back (0.5 s, doubling up to 10 s) before its next try; return the pause."""
        failures = self._unavailable.get(wa_id, (0, 0.0))[0] + 1
        delay = outage_pause(failures)
        self._unavailable[wa_id] = (failures, asyncio.get_running_loop().time() + delay)
        return delay

    async def handle(self, message: InboundView) -> str:
        """Answer one message (STOP/START, a notice, or a Rasa turn); return its final state."""
        wa_id, kind = message.wa_id, message.kind
        if is_silent(kind, message.meta):
            return "ignored"
        if not message.paused and will_answer(kind, message.text, message.meta, message.opted_out):
            # Blue ticks and "typing…" when the assistant takes the message up, not when it was
            # stored: behind a backlog the indicator (Meta shows it up to 25 s) would lapse first.
            self._mark_read(message.wamid)
        word = command_word(kind, message.text)
        # Confirm first, then flip the flag: the confirmation is keyed by this wamid, so a retry
        # after a crash in between repeats neither.
        if word in STOP_WORDS:
            if not message.opted_out:
                await self._say(message, OPTED_OUT_TEXT, "opt_out")
                self._set_opted_out(message, True)
            return "done"
        if message.opted_out:
            if word not in START_WORDS:
                return "ignored"  # stored, never answered until START
            await self._say(message, OPTED_IN_TEXT, "opt_in")
            self._set_opted_out(message, False)
            return "done"
        if message.paused:
            return "done"  # a person has this chat: stored and listed for staff, no bot turn
        if kind in NOT_UNDERSTOOD_KINDS:
            await self._say(message, NOT_UNDERSTOOD_TEXT, "notice")
            return "done"
        output = self._output_for(message, "reply")
        if message.attempts > 1 or message.last_error:  # an outage gives its try back, not its history
            replies = await self._replies_already_made(message)
            if replies is not None:
                logger.info("whatsapp.inbound.rebuilt wamid=%s replies=%s", message.wamid, len(replies))
                for reply in replies:
                    await output.send_response(wa_id, reply)
                return "done"
        metadata = dict(message.meta)
        if kind in DOWNLOAD_KINDS:
            metadata["media"] = await self._download(message)
        # Rasa never sees a 50 kB body or runs of whitespace (the choice parser and NLU clean again).
        title = str((message.meta.get("details") or {}).get("title") or "")
        text = clean_text(choice_text(message.text, title) if kind in CHOICE_KINDS else message.text)
        if kind in DOWNLOAD_KINDS and not text:
            text = MEDIA_ONLY_TEXT
        turn = self.on_new_message(UserMessage(text, output, wa_id, input_channel="whatsapp",
                                               message_id=message.wamid, metadata=metadata))
        # A turn that overruns is cancelled and counts as a failed try (asyncio.TimeoutError).
        await asyncio.wait_for(turn, self.turn_timeout)
        return "done"

    async def _say(self, message: InboundView, text: str, kind: str) -> None:
        """Enqueue a short fixed answer to message."""
        await self._output_for(message, kind).send_response(message.wa_id, {"text": text})

    def _output_for(self, message: InboundView, kind: str, first_seq: Optional[int] = None) -> TurnOutput:
        """Return an output channel for message whose replies are recorded with the turn's outcome."""
        if first_seq is None:
            output = self.make_output(message.wa_id, message.wamid, kind)
        else:
            output = self.make_output(message.wa_id, message.wamid, kind, first_seq)
        output.collect(self._outcomes[message.id].replies)
        return output

    def _set_opted_out(self, message: InboundView, opted_out: bool) -> None:
        """Opt the sender out or in, with the turn's outcome (after its confirmation is queued)."""
        self._outcomes[message.id].opted_out = opted_out

    async def _replies_already_made(self, message: InboundView) -> Optional[list[dict[str, Any]]]:
        """Return the replies of this message's turn if Rasa already ran it, else None."""
        tracker = await self.tracker_of(message.wa_id)
        return None if tracker is None else turn_replies(tracker.events, message.wamid)

    def _mark_read(self, wamid: str) -> None:
        """Mark the message read with the typing indicator, without holding up the turn."""
        task = asyncio.create_task(self._mark_read_quietly(wamid))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _mark_read_quietly(self, wamid: str) -> None:
        """Mark read; a failure only costs the blue ticks."""
        try:
            await self.graph.mark_read(wamid, typing=True)
        except GraphError as exc:
            logger.info("whatsapp.read.failed wamid=%s code=%s", wamid, exc.code)

    async def _download(self, message: InboundView) -> dict[str, Any]:
        """Download the message's file only if a form step needs it now (media_fetch); describe it for Rasa."""
        return await media_for_turn(self.config, self.graph, self.tracker_of, message.wa_id, message.wamid,
                                    message.kind, message.meta)


def is_unavailable(exc: BaseException) -> bool:
    """Return True if exc says a shared service is down (lock store, database), not that the message is bad."""
    return isinstance(exc, UNAVAILABLE_ERRORS) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def is_silent(kind: str, meta: dict[str, Any]) -> bool:
    """Return True for messages that get no answer at all: system notices, deleted messages, removed reactions."""
    if kind == "reaction":
        return not (meta.get("details") or {}).get("emoji")
    if kind == "unsupported" and (meta.get("details") or {}).get("type") == "revoke":  # a deleted message asks nothing
        return True
    return kind in SILENT_KINDS


def command_word(kind: str, text: str) -> str:
    """Return a text message in upper case with single spaces, to compare with STOP and START."""
    return " ".join(text.split()).upper() if kind == "text" else ""


def will_answer(kind: str, text: str, meta: dict[str, Any], opted_out: bool) -> bool:
    """Return True if a new message will get a reply (so showing the typing indicator is honest)."""
    if is_silent(kind, meta):
        return False
    word = command_word(kind, text)
    if opted_out:
        return word in START_WORDS
    return True


def choice_text(text: str, title: str = "") -> str:
    """Return what a tapped option means: our payload ("/intent…"), "3" for our short id "opt:3", or
    else the title the customer tapped: an id some other system gave a button ("callback_data")
    means nothing to the NLU and, read as words, could start anything."""
    if text.startswith("/"):
        return text
    rest = text[len(SHORT_ID_PREFIX):] if text.startswith(SHORT_ID_PREFIX) else ""
    if rest.isdigit():
        return rest
    return title.strip() or text


def turn_replies(events: Sequence[Event], message_id: str) -> Optional[list[dict[str, Any]]]:
    """Return the bot messages of the turn that handled message_id, or None if it never ran.

    A turn's messages are the session-start greeting logged just before the UserUttered (if the
    message opened a session) and every BotUttered after it up to the next user message.
    """
    events = list(events)  # trackers hold a deque
    index = next((i for i, e in enumerate(events)
                  if isinstance(e, UserUttered) and e.message_id == message_id), None)
    if index is None:
        return None
    previous = max((i for i in range(index) if isinstance(events[i], UserUttered)), default=-1)
    start = 0
    if previous >= 0:  # the previous turn ends at its first action_listen
        start = next((i + 1 for i in range(previous + 1, index)
                      if isinstance(events[i], ActionExecuted) and events[i].action_name == ACTION_LISTEN_NAME),
                     index)
    after: list[Event] = []
    for event in events[index + 1:]:
        if isinstance(event, UserUttered):
            break
        after.append(event)
    return [e.message() for e in [*events[start:index], *after] if isinstance(e, BotUttered)]
