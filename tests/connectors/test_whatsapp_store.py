"""The channel's durable store: one row per wamid, ordered claims, one turn's outcome in one write."""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from database.clock import utcnow
from database.session import sessions
from connectors.whatsapp import outbox, store
from connectors.whatsapp.outbox import OutboxItem
from connectors.whatsapp.tables import contacts, inbound, statuses, webhooks
from connectors.whatsapp.tables import outbox as outbox_table
from connectors.whatsapp.updates import parse_delivery
from tests.connectors.whatsapp_support import database, delivery, message, status, text  # noqa: F401
from tests.fakes.graph_state import DEFAULT_PHONE_NUMBER_ID as OURS

TTL = timedelta(seconds=15)
ASHA, BHARAT = "919800000001", "919800000002"


def save(body: dict) -> store.SavedDelivery:
    """Store one delivery as the webhook would."""
    return store.save_delivery(json.dumps(body).encode(), parse_delivery(body), OURS)


def count(table, *where) -> int:
    """Return how many rows of table match."""
    with sessions()() as session:
        return session.scalar(select(func.count()).select_from(table).where(*where))


def reply(wa_id: str, wamid: str, seq: int, body: str = "ok") -> OutboxItem:
    """Return one text reply to enqueue."""
    return OutboxItem(wa_id, wamid, seq, "reply", {"to": "+" + wa_id, "type": "text", "text": {"body": body}})


def test_a_redelivered_message_is_stored_once(database):
    """The same delivery twice keeps one inbound row, and both raw webhooks are logged."""
    body = delivery(text(ASHA, "hi"))
    first, second = save(body), save(body)
    assert (first.new_messages, second.new_messages, second.duplicates) == (1, 0, 1)
    assert count(inbound) == 1 and count(webhooks) == 2


def test_fifty_concurrent_copies_store_one_message(database):
    """Fifty threads saving the same delivery at once leave exactly one pending message."""
    body = delivery(text(ASHA, "hi"))
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: save(body), range(50)))
    assert sum(r.new_messages for r in results) == 1
    assert count(inbound, inbound.c.state == "pending") == 1


def test_concurrent_batches_that_overlap_store_each_message_once(database):
    """Batches of several deliveries saved at once from ten threads, sharing messages, report each
    message as new exactly once (the batch's look-up and insert cannot interleave with another's)."""
    pairs = [text(f"9198000001{n:02d}", f"hi {n}") for n in range(12)]
    bodies = [delivery(*pairs[n:n + 4]) for n in range(0, 12, 2)]  # each message in one or two of them
    parsed = [(json.dumps(b).encode(), parse_delivery(b)) for b in bodies]
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda n: store.save_deliveries([parsed[n % 6], parsed[(n + 3) % 6]], OURS),
                                range(30)))
    saved = [delivery for batch in results for delivery in batch]
    assert sum(d.new_messages for d in saved) == 12
    assert sorted(w for d in saved for w in d.fresh) == sorted(m["id"] for _, m in pairs)
    assert count(inbound) == 12 and count(webhooks) == 60


def test_messages_for_another_number_and_stale_messages_are_not_answered(database):
    """Another business number's message is skipped; a two-day-old one is stored as expired."""
    save(delivery(text(ASHA, "hi"), phone_number_id="999"))
    save(delivery(text(BHARAT, "hello?", age_seconds=2 * 86400)))
    assert count(inbound) == 1
    assert count(inbound, inbound.c.state == "expired") == 1
    assert store.senders_with_work() == []


def test_a_batch_of_deliveries_is_saved_as_each_alone_would_be(database):
    """One transaction for several deliveries: repeats within the batch and from before are found, a known
    contact gets its new name and newest window, a new one is created, and an opted-out sender is named."""
    CHARU = "919800000003"
    known = text(ASHA, "sent before")
    save(delivery(known))
    save(delivery(text(BHARAT, "old", age_seconds=600)))
    save(delivery(text(CHARU, "STOP")))
    with sessions().begin() as session:
        session.execute(contacts.update().where(contacts.c.wa_id == CHARU).values(opted_out=True))
    first, renamed = text(ASHA, "hi"), text(BHARAT, "hello")
    renamed[0]["profile"]["name"] = "Bharat K"
    new_contact = "919800000004"
    bodies = [delivery(first, renamed), delivery(first), delivery(known), delivery(text(CHARU, "hi")),
              delivery(text(new_contact, "namaste"), statuses=(status("wamid.nobody", "sent", new_contact),))]
    results = store.save_deliveries([(json.dumps(b).encode(), parse_delivery(b)) for b in bodies], OURS)
    assert [(r.new_messages, r.duplicates) for r in results] == [(2, 0), (0, 1), (0, 1), (1, 0), (1, 0)]
    assert [r.senders for r in results] == [(ASHA, BHARAT), (), (), (CHARU,), (new_contact,)]
    assert [r.opted_out for r in results] == [frozenset()] * 3 + [frozenset({CHARU}), frozenset()]
    assert results[4].statuses == 1
    assert count(inbound) == 3 + 4 and count(webhooks) == 3 + 5
    with sessions()() as session:
        people = {row.wa_id: row for row in session.execute(select(contacts))}
    assert people[BHARAT].profile_name == "Bharat K"
    assert utcnow() - people[BHARAT].last_inbound_at < timedelta(seconds=60)
    assert people[BHARAT].first_seen < people[BHARAT].last_seen
    assert people[new_contact].first_seen == people[new_contact].last_seen and not people[new_contact].opted_out
    assert people[CHARU].opted_out


def test_contact_keeps_first_seen_and_the_latest_inbound_time(database):
    """A contact is created once; later messages move last_seen and the 24 h window forward."""
    save(delivery(text(ASHA, "old", age_seconds=600)))
    save(delivery(text(ASHA, "new")))
    with sessions()() as session:
        row = session.execute(select(contacts)).one()
    assert row.first_seen <= row.last_seen
    assert utcnow() - row.last_inbound_at < timedelta(seconds=60)


def test_claims_follow_timestamps_and_the_sender_is_exclusive(database):
    """Two instances: only one holds a sender; it gets messages by timestamp, not arrival."""
    later, earlier = text(ASHA, "second"), text(ASHA, "first", age_seconds=30)
    save(delivery(later))
    save(delivery(earlier))
    first = store.claim_next_inbound(ASHA, "a", TTL)
    assert first is not None and first.text == "first" and first.attempts == 1
    assert store.claim_next_inbound(ASHA, "b", TTL) is None  # the sender's second message waits for a
    assert store.finish_turn(first, "a", "done").held
    assert store.claim_next_inbound(ASHA, "a", TTL).text == "second"


def test_a_lapsed_claim_is_taken_over_and_counts_as_a_retry(database):
    """A message whose owner died is claimed again after its lease, with attempts 2."""
    save(delivery(text(ASHA, "hi")))
    claimed = store.claim_next_inbound(ASHA, "dead", TTL)
    assert store.claim_next_inbound(ASHA, "b", TTL) is None
    later = utcnow() + TTL + timedelta(seconds=1)
    again = store.claim_next_inbound(ASHA, "b", TTL, now=later)
    assert again is not None and again.id == claimed.id and again.attempts == 2
    assert not store.finish_turn(claimed, "dead", "done").held


def test_a_try_lost_to_an_outage_is_given_back(database):
    """A message put back because a shared service was down is claimed next with the same try count."""
    save(delivery(text(ASHA, "hi")))
    first = store.claim_next_inbound(ASHA, "a", TTL)
    assert store.finish_turn(first, "a", "pending", "unavailable", refund_attempt=True).held
    assert store.claim_next_inbound(ASHA, "a", TTL).attempts == 1
    assert store.finish_turn(first, "a", "pending", "ValueError").held
    assert store.claim_next_inbound(ASHA, "a", TTL).attempts == 2


def test_racing_instances_never_claim_the_same_message(database):
    """Eight threads claiming from one sender's queue each get a different message or nothing."""
    for n in range(5):
        save(delivery(text(ASHA, f"m{n}")))
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda n: store.claim_next_inbound(ASHA, f"owner{n}", TTL), range(8)))
    ids = [c.id for c in claims if c is not None]
    assert len(ids) == len(set(ids)) == 1  # the first claim makes the rest wait for its lease


def test_a_rerun_turn_cannot_enqueue_a_reply_twice(database):
    """Enqueuing the same (inbound wamid, seq) again adds nothing."""
    assert outbox.enqueue([reply(ASHA, "w1", 0), reply(ASHA, "w1", 1)]) == 2
    assert outbox.enqueue([reply(ASHA, "w1", 0), reply(ASHA, "w1", 1), reply(ASHA, "w1", 2)]) == 1
    assert count(outbox_table) == 3


def test_only_the_oldest_open_row_of_a_recipient_is_sendable(database):
    """A recipient's second reply waits while the first is being sent or waits for a retry."""
    save(delivery(text(ASHA, "hi")))
    outbox.enqueue([reply(ASHA, "w1", 0, "one"), reply(ASHA, "w1", 1, "two")])
    [first] = outbox.claim_due_outbox(ASHA, "a", TTL, limit=1)
    assert first.payload["text"]["body"] == "one"
    assert outbox.claim_due_outbox(ASHA, "b", TTL) == []
    outbox.retry_later(first.id, "a", utcnow() + timedelta(seconds=30), 1, "RetryableError")
    assert outbox.recipients_with_work() == []
    assert outbox.claim_due_outbox(ASHA, "a", TTL) == []
    soon = utcnow() + timedelta(seconds=31)
    assert [row.id for row in outbox.claim_due_outbox(ASHA, "a", TTL, limit=1, now=soon)] == [first.id]


def test_a_batch_is_claimed_in_order_and_ends_before_a_row_that_must_wait(database):
    """One claim takes a recipient's due rows oldest first, up to the limit, and stops at a row
    that waits for a retry; no other sender can take any of them meanwhile."""
    outbox.enqueue([reply(ASHA, "w1", seq, str(seq)) for seq in range(4)])
    [zero] = outbox.claim_due_outbox(ASHA, "a", TTL, limit=1)
    outbox.mark_sent_many([(zero.id, "wamid.OUT0")], "a")
    one, two, three = outbox.claim_due_outbox(ASHA, "a", TTL)
    assert [row.seq for row in (one, two, three)] == [1, 2, 3]
    assert outbox.claim_due_outbox(ASHA, "b", TTL) == []
    outbox.retry_later(two.id, "a", utcnow() + timedelta(seconds=30), 1, "RetryableError")
    outbox.release_claims([three.id], "a")
    outbox.mark_sent_many([(one.id, "wamid.OUT1")], "a")
    assert outbox.claim_due_outbox(ASHA, "a", TTL) == []  # three waits behind two
    soon = utcnow() + timedelta(seconds=31)
    assert [row.seq for row in outbox.claim_due_outbox(ASHA, "a", TTL, now=soon)] == [2, 3]


def test_delivery_status_only_moves_forward(database):
    """A late "sent" after "read" leaves the row at read; "failed" records its code."""
    outbox.enqueue([reply(ASHA, "w1", 0), reply(ASHA, "w1", 1)])
    first, _second = outbox.claim_due_outbox(ASHA, "a", TTL)
    outbox.mark_sent_many([(first.id, "wamid.OUT1")], "a")
    save(delivery(statuses=(status("wamid.OUT1", "read", ASHA), status("wamid.OUT1", "sent", ASHA))))
    save(delivery(statuses=(status("wamid.OUT1", "delivered", ASHA),)))
    with sessions()() as session:
        row = session.execute(select(outbox_table).where(outbox_table.c.id == first.id)).one()
    assert (row.delivery_status, row.status_rank) == ("read", 3)


def test_a_status_naming_an_unconfirmed_row_marks_it_sent(database):
    """If Meta reports a send we never stored the wamid of, the row is adopted and not resent."""
    outbox.enqueue([reply(ASHA, "w1", 0)])
    [row] = outbox.claim_due_outbox(ASHA, "dead", TTL)
    later = utcnow() + TTL + outbox.UNCERTAIN_GRACE + timedelta(seconds=1)
    assert outbox.recipients_with_work(now=later) == [ASHA]  # without a status it would be resent
    save(delivery(statuses=(status("wamid.OUT9", "sent", ASHA, callback=f"outbox:{row.id}"),)))
    assert outbox.claim_due_outbox(ASHA, "b", TTL, now=later) == []
    with sessions()() as session:
        stored = session.execute(select(outbox_table)).one()
    assert (stored.state, stored.graph_wamid, stored.delivery_status) == ("sent", "wamid.OUT9", "sent")


def test_statuses_saved_in_one_batch_end_as_saved_one_by_one(database):
    """Statuses spread over the deliveries of one batch, out of order and repeated, each naming its
    row as our sends do: each (wamid, status) is logged once, a row ends at its furthest status,
    and an unconfirmed send is adopted."""
    outbox.enqueue([reply(ASHA, "w1", 0), reply(BHARAT, "w2", 0)])
    [first] = outbox.claim_due_outbox(ASHA, "a", TTL)
    [second] = outbox.claim_due_outbox(BHARAT, "dead", TTL)
    outbox.mark_sent_many([(first.id, "wamid.OUT1")], "a")
    ours, theirs = f"outbox:{first.id}", f"outbox:{second.id}"
    bodies = [delivery(statuses=(status("wamid.OUT1", "read", ASHA, callback=ours),)),
              delivery(statuses=(status("wamid.OUT1", "sent", ASHA, callback=ours),
                                 status("wamid.OUT1", "read", ASHA, callback=ours))),
              delivery(statuses=(status("wamid.OUT2", "sent", BHARAT, callback=theirs),)),
              delivery(statuses=(status("wamid.OUT2", "delivered", BHARAT, callback=theirs),))]
    results = store.save_deliveries([(json.dumps(b).encode(), parse_delivery(b)) for b in bodies], OURS)
    assert [r.statuses for r in results] == [1, 2, 1, 1]
    assert count(statuses) == 4
    with sessions()() as session:
        rows = {row.id: row for row in session.execute(select(outbox_table))}
    assert (rows[first.id].delivery_status, rows[first.id].status_rank) == ("read", 3)
    assert (rows[second.id].state, rows[second.id].graph_wamid, rows[second.id].delivery_status) == (
        "sent", "wamid.OUT2", "delivered")


def opted_out_since(wa_id: str):
    """Return when the contact opted out (None if not)."""
    with sessions()() as session:
        return session.scalar(select(contacts.c.opted_out_at).where(contacts.c.wa_id == wa_id))


def test_opt_out_is_remembered_and_reported_with_the_next_claim(database):
    """After STOP the contact is opted out once (a second STOP keeps the first time), and claims say
    so until START."""
    save(delivery(text(ASHA, "STOP")))
    store.finish_turn(store.claim_next_inbound(ASHA, "a", TTL), "a", "done", opted_out=True)
    since = opted_out_since(ASHA)
    save(delivery(text(ASHA, "STOP")))
    again = store.claim_next_inbound(ASHA, "a", TTL)
    assert again.opted_out
    store.finish_turn(again, "a", "done", opted_out=True, now=utcnow() + timedelta(minutes=5))
    assert since is not None and opted_out_since(ASHA) == since
    save(delivery(text(ASHA, "hello")))
    hello = store.claim_next_inbound(ASHA, "a", TTL)
    assert hello.opted_out
    store.finish_turn(hello, "a", "ignored")
    save(delivery(text(ASHA, "START")))
    start = store.claim_next_inbound(ASHA, "a", TTL)
    assert start.opted_out
    store.finish_turn(start, "a", "done", opted_out=False)
    assert not store.is_opted_out(ASHA) and opted_out_since(ASHA) is None


def test_a_status_from_another_number_changes_nothing(database):
    """Statuses for another business number are not stored."""
    result = save(delivery(statuses=(status("wamid.X", "read", ASHA),), phone_number_id="999"))
    assert result.statuses == 0


def test_media_message_is_stored_with_its_media_reference(database):
    """An image message keeps its media id and caption in the stored metadata."""
    save(delivery(message("media", "image", ASHA)))
    claimed = store.claim_next_inbound(ASHA, "a", TTL)
    assert claimed.kind == "image" and claimed.meta["media"]["media_id"]


def test_a_turn_outcome_is_one_write_and_its_replies_go_to_this_sender_only(database):
    """Recording a STOP turn marks the message done, queues its confirmation already claimed for this
    process's sender and opts the sender out, together; no other instance can claim that reply."""
    save(delivery(text(ASHA, "STOP")))
    message = store.claim_next_inbound(ASHA, "a", TTL)
    recorded = store.finish_turn(message, "a", "done", replies=[reply(ASHA, message.wamid, 0, "bye")],
                                 opted_out=True, send_ttl=TTL)
    assert not recorded.more and [row.payload["text"]["body"] for row in recorded.sending] == ["bye"]
    assert count(inbound, inbound.c.state == "done") == 1 and store.is_opted_out(ASHA)
    assert outbox.claim_due_outbox(ASHA, "b", TTL) == [] and outbox.recipients_with_work() == []


def test_a_staff_message_due_when_stop_is_recorded_is_claimed_as_opted_out(database):
    """A staff reply queued before STOP's outcome is written goes out in the same claim, but marked
    opted out, so the sender drops it instead of writing to someone who just said STOP."""
    save(delivery(text(ASHA, "STOP")))
    message = store.claim_next_inbound(ASHA, "a", TTL)
    outbox.enqueue_text(ASHA, "a staff note")
    recorded = store.finish_turn(message, "a", "done", replies=[reply(ASHA, message.wamid, 0, "bye")],
                                 opted_out=True, send_ttl=TTL)
    assert [(row.kind, row.opted_out) for row in recorded.sending] == [("staff", True), ("reply", True)]


def test_a_turn_with_the_senders_next_message_waiting_says_so(database):
    """After a turn, the worker learns in the same write that the sender's next message is waiting."""
    save(delivery(text(ASHA, "first", age_seconds=30)))
    save(delivery(text(ASHA, "second")))
    first = store.claim_next_inbound(ASHA, "a", TTL)
    assert store.finish_turn(first, "a", "done").more
    second = store.claim_next_inbound(ASHA, "a", TTL)
    assert second.text == "second" and not store.finish_turn(second, "a", "done").more


# ---- hostile field values -------------------------------------------------------------------------
# Meta-shaped deliveries for our number whose every field may hold what a hostile or broken sender
# puts there. Each is stored (its raw body logged) without an error: a refused delivery is answered
# 503 and Meta sends it again for days.
_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=20)  # NUL and lone surrogates too
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                  st.floats(), _ANY_TEXT, st.just("x" * 300), st.just("9" * 40))
_JUNK = st.recursive(_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                    st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                     max_leaves=8)
_CONTENT = st.fixed_dictionaries({}, optional={
    "body": _JUNK, "id": _JUNK, "caption": _JUNK, "latitude": _JUNK, "longitude": _JUNK, "name": _JUNK,
    "type": st.sampled_from(["button_reply", "list_reply"]), "button_reply": _JUNK, "emoji": _JUNK,
    "product_items": st.lists(st.dictionaries(st.sampled_from(["quantity", "item_price", "currency"]), _JUNK))})
_MESSAGE = st.builds(
    lambda n, sender, stamp, kind, content, codes: {"from": sender, "id": f"wamid.h{n}", "timestamp": stamp,
                                                    "type": kind, kind: content, "errors": [{"code": codes}]},
    st.integers(0, 10**6), st.one_of(st.just(ASHA), _JUNK), _JUNK,
    st.sampled_from(["text", "image", "interactive", "location", "order", "reaction"]), _CONTENT, _JUNK)
_STATUS = st.fixed_dictionaries({"id": st.one_of(st.just("wamid.out1"), _JUNK)}, optional={
    "status": st.sampled_from(["sent", "delivered", "read", "failed"]), "timestamp": _JUNK,
    "recipient_id": _JUNK, "errors": st.lists(st.fixed_dictionaries({"code": _JUNK}), max_size=2),
    "biz_opaque_callback_data": st.one_of(_JUNK, _ANY_TEXT.map(lambda tail: "outbox:" + tail),
                                          st.integers(0, 10**20).map(lambda row: f"outbox:{row}"))})
_HOSTILE = st.builds(
    lambda people, messages, updates: {"object": "whatsapp_business_account", "entry": [{"changes": [{
        "field": "messages", "value": {"metadata": {"phone_number_id": OURS}, "contacts": people,
                                       "messages": messages, "statuses": updates}}]}]},
    st.lists(st.fixed_dictionaries({"wa_id": st.one_of(st.just(ASHA), _JUNK),
                                    "profile": st.fixed_dictionaries({"name": _JUNK})}), max_size=2),
    st.lists(_MESSAGE, max_size=3), st.lists(_STATUS, max_size=3))


def test_deliveries_with_hostile_field_values_are_stored_without_an_error(database):
    """Huge and infinite numbers, NUL, lone surrogates, over-long ids, objects where text belongs:
    each delivery is stored (its raw body logged once), on SQLite and on PostgreSQL."""
    outbox.enqueue([reply(ASHA, "wamid.in", 0)])  # a row a forged callback_data may name

    @settings(max_examples=int(os.environ.get("HOSTILE_CASES", "300")), deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=_HOSTILE)
    def stored_whole(body: dict) -> None:
        raw = json.dumps(body).encode()  # allow_nan: Meta's JSON never holds NaN, a forger's may
        before = count(webhooks)
        store.save_delivery(raw, parse_delivery(json.loads(raw)), OURS)
        assert count(webhooks) == before + 1

    stored_whole()
