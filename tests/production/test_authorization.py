"""Every data question, asked every way, never shows one customer another customer's data.

One table (ASKS) lists each question the assistant answers from the database and each way of
asking it: a typed id, a button's payload, a menu walked by number, free text, a form slot, a
list paged with MORE, a number past the end of a list. Every row is asked by one customer about
the other (both ways round), by an unregistered number and by staff, against the real action
server and `rasa run` over a seeded SQLite file. What must not be shown is read from that
database, so new or changed demo data changes the checks instead of slipping past them.
"""
from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from database.models import Customer, DefectReport, Order, OrderEvent, ProductionRun
from tests.harness import ROOT, Stack, keep_logs, running_stack

NOT_REGISTERED = "This number isn't registered with us"
STRANGER = "919800000099"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------- what the database says


@dataclass(frozen=True)
class Owner:
    """A registered customer and every string that would give their data away."""

    wa_id: str
    first_name: str
    orders: tuple[str, ...]
    defects: tuple[str, ...]
    probe_order: str  # the order asked about: the most revealing one (carrier and tracking)
    probe_defect: str
    markers: frozenset[str]  # ids, names, company, products, carriers, tracking, notes, defect texts


@dataclass(frozen=True)
class Seeded:
    """The customers and staff of the seeded database, and ids that exist for nobody."""

    customers: dict[str, Owner]
    staff: str
    missing_order: str
    missing_defect: str

    def markers_only(self, owner: str, asker: str) -> set[str]:
        """Return owner's markers that the asker's own data does not also contain."""
        if asker not in self.customers:
            return set(self.customers[owner].markers)
        own = self.customers[asker].markers
        return {m for m in self.customers[owner].markers if not any(m in mine for mine in own)}


def read_seeded(db_url: str) -> Seeded:
    """Read who owns what from the stack's database."""
    engine = create_engine(db_url, future=True)
    try:
        with Session(engine, future=True) as session:
            people = session.scalars(select(Customer).order_by(Customer.wa_id)).all()
            orders = session.execute(select(Order, Customer.wa_id).join(Order.customer).order_by(Order.ref)).all()
            notes = session.execute(
                select(Order.ref, OrderEvent.note).join(OrderEvent, OrderEvent.order_id == Order.id)
            ).all()
            defects = session.execute(
                select(DefectReport, Order.ref).join(DefectReport.order).order_by(DefectReport.ref)
            ).all()
            runs = session.execute(select(ProductionRun.product, Order.ref).join(ProductionRun.order)).all()
            refs = set(session.scalars(select(Order.ref))) | set(session.scalars(select(DefectReport.ref)))
            staff = session.scalars(select(Customer.wa_id).where(Customer.role == "staff")).first()
    finally:
        engine.dispose()

    owner_of = {order.ref: wa_id for order, wa_id in orders}
    customers = {}
    for person in (p for p in people if p.role == "customer"):
        mine = [order for order, wa_id in orders if wa_id == person.wa_id]
        my_defects = [(d, ref) for d, ref in defects if owner_of[ref] == person.wa_id]
        assert mine and my_defects, f"seed data: {person.wa_id} needs an order and a defect report for this table"
        strings = {person.wa_id, person.name, person.name.split()[0], person.company}
        for order in mine:
            strings |= {order.ref, order.product, order.carrier, order.tracking_no}
        strings |= {note for ref, note in notes if owner_of[ref] == person.wa_id}
        strings |= {product for product, ref in runs if owner_of.get(ref) == person.wa_id}
        for defect, _ in my_defects:
            strings |= {defect.ref, defect.description, defect.resolution, defect.photo_ref}
        revealing = max(mine, key=lambda o: (bool(o.tracking_no), bool(o.carrier), o.ref == mine[0].ref))
        customers[person.wa_id] = Owner(
            wa_id=person.wa_id,
            first_name=person.name.split()[0],
            orders=tuple(o.ref for o in mine),
            defects=tuple(d.ref for d, _ in my_defects),
            probe_order=revealing.ref,
            probe_defect=my_defects[0][0].ref,
            markers=frozenset(s for s in strings if s),
        )
    assert len(customers) >= 2 and staff, "seed data: this table needs two customers and a staff number"
    assert STRANGER not in {p.wa_id for p in people}, f"seed data: {STRANGER} must stay unregistered"
    missing_order = next(f"ORD-{n}" for n in range(19999, 10000, -1) if f"ORD-{n}" not in refs)
    missing_defect = next(f"DEF-{n:04d}" for n in range(9999, 0, -1) if f"DEF-{n:04d}" not in refs)
    return Seeded(customers, staff, missing_order, missing_defect)


def defects_on(db_url: str, order_refs: tuple[str, ...]) -> int:
    """Count the defect reports filed on these orders."""
    engine = create_engine(db_url, future=True)
    try:
        with Session(engine, future=True) as session:
            stmt = select(func.count(DefectReport.id)).join(DefectReport.order).where(Order.ref.in_(order_refs))
            return session.scalar(stmt)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the running assistant


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real action server and Rasa (REST channel) over a fresh seeded SQLite file, once per module."""
    workdir = tmp_path_factory.mktemp("authorization")
    try:
        with running_stack(workdir) as running:
            yield running
    finally:
        keep_logs(workdir, ROOT / "var" / "e2e-logs" / workdir.name)


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> Seeded:
    """Who owns what in the stack's database."""
    return read_seeded(stack.db_url)


class Phone:
    """One WhatsApp number talking to the assistant over the REST channel, from a fresh conversation."""

    def __init__(self, rasa_url: str, sender: str) -> None:
        self.url = f"{rasa_url}/webhooks/rest/webhook"
        self.sender = sender
        self.replies: list[list[dict[str, Any]]] = []
        self.say("/restart")
        # A number's very first conversation greets twice; the greeting has its own row in ASKS.
        self.replies.clear()

    def say(self, text: str) -> list[dict[str, Any]]:
        """Send one message; return (and remember) the bot's replies."""
        body = json.dumps({"sender": self.sender, "message": text}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with _NO_PROXY.open(request, timeout=60) as response:
            replies = json.loads(response.read())
        self.replies.append(replies)
        return replies

    def choices_offered(self) -> int:
        """Return how many buttons the last message that offered any had (0 if none did)."""
        for replies in reversed(self.replies):
            for reply in reversed(replies):
                if reply.get("buttons"):
                    return len(reply["buttons"])
        return 0

    def shown(self) -> str:
        """Return all the phone showed or carries: every text, button title and button payload."""
        parts = []
        for replies in self.replies:
            for reply in replies:
                parts.append(reply.get("text") or "")
                for button in reply.get("buttons") or []:
                    parts += [button.get("title") or "", button.get("payload") or ""]
        return "\n".join(parts)


def tap(intent: str, **entities: str) -> str:
    """Return the payload a button for `intent` with these entities sends."""
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}" if entities else f"/{intent}"


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Ask:
    """One data question and one way of asking it.

    In `steps`, {id} is the other customer's order or defect id (or one nobody has), {digits}
    its number without the prefix, {own} an order the asker may see, and {beyond} one more than
    the number of choices the last list offered.
    """

    question: str
    how: str
    steps: tuple[str, ...]
    names: str = ""  # "order" or "defect": the question names another customer's id; "": a list
    staff_sees_owner: bool = True  # staff's answer includes the other customer's data
    is_data: bool = True  # an unregistered number is told it isn't registered

    @property
    def id(self) -> str:
        """Return the row's test id: question / how."""
        return f"{self.question} / {self.how}".replace(" ", "-")


ASKS = [
    # One order, named by id: status (with carrier and tracking number) and delivery date.
    Ask("order status", "typed id", ("{id}",), "order"),
    Ask("order status", "free text", ("where is my order {id}",), "order"),
    Ask("order status", "free text, number only", ("is ord{digits} shipped?",), "order"),
    Ask("order status", "button payload", (tap("track_order", order_id="{id}"),), "order"),
    Ask("order status", "menu by number then typed id", ("hi", "1", "2", "{id}"), "order"),
    Ask("tracking number", "free text", ("tracking number for {id}",), "order"),
    Ask("delivery date", "free text", ("when will {id} arrive",), "order"),
    Ask("delivery date", "free text, number only", ("delivery date of order #{digits}",), "order"),
    Ask("delivery date", "button payload", (tap("delivery_estimate", order_id="{id}"),), "order"),
    Ask("delivery date", "menu tap then typed id", ("/menu_orders", "3", "{id}"), "order"),
    # One defect report, named by id.
    Ask("defect status", "typed id", ("{id}",), "defect"),
    Ask("defect status", "free text", ("status of {id}",), "defect"),
    Ask("defect status", "free text, number only", ("what happened to def {digits}",), "defect"),
    Ask("defect status", "button payload", (tap("track_defect", defect_id="{id}"),), "defect"),
    Ask("defect status", "menu by number then typed id", ("hi", "2", "3", "{id}"), "defect"),
    # Reporting a defect against another customer's order: every way the form's order slot fills.
    Ask("report defect", "form slot, typed id", ("/report_defect", "{id}"), "order"),
    Ask("report defect", "form slot, button payload", ("/report_defect", tap("inform", order_id="{id}")), "order"),
    Ask("report defect", "form slot, free text", ("I want to report a defect on {id}",), "order"),
    Ask("report defect", "intent payload with id", (tap("report_defect", order_id="{id}"),), "order"),
    Ask("report defect", "id slipped in at the confirm step",
        ("/report_defect", "{own}", "The cones arrived crushed and wet", "/skip", tap("report_defect", order_id="{id}")),
        "order"),
    # Lists: what the asker's own lists, pages and pickers show.
    Ask("recent orders", "button payload", ("/view_recent_orders",)),
    Ask("recent orders", "menu by number", ("hi", "1", "1")),
    Ask("recent orders", "MORE", ("/view_recent_orders", "MORE", "MORE")),
    Ask("recent orders", "number past the list", ("/view_recent_orders", "{beyond}")),
    Ask("recent orders", "number past the second page", ("/view_recent_orders", "MORE", "{beyond}")),
    Ask("order picker", "number past the list", ("/track_order", "{beyond}")),
    Ask("delivery picker", "number past the list", ("/delivery_estimate", "{beyond}")),
    Ask("defect list", "button payload", ("/defect_history",)),
    Ask("defect list", "menu by number", ("hi", "2", "2")),
    Ask("defect list", "MORE", ("/defect_history", "MORE")),
    Ask("defect list", "number past the list", ("/defect_history", "{beyond}")),
    Ask("defect picker", "number past the list", ("/track_defect", "{beyond}")),
    Ask("report defect", "order picker, number past the list", ("/report_defect", "{beyond}")),
    Ask("schedule today", "button payload", ("/schedule_today",)),
    Ask("schedule today", "free text", ("what's being produced today",)),
    Ask("schedule today", "menu by number", ("hi", "3", "1")),
    Ask("schedule week", "button payload and MORE", ("/schedule_week", "MORE", "MORE")),
    Ask("schedule week", "menu by number", ("hi", "3", "2")),
    Ask("production status", "button payload", ("/production_status",)),
    Ask("production status", "menu by number", ("hi", "3", "3")),
    Ask("greeting", "new session", ("/session_start",), staff_sees_owner=False, is_data=False),
]

# (who asks, whose data): each customer about the other, a stranger, and staff (who may see all).
ASKERS = ["customer 2 about customer 1", "customer 1 about customer 2", "stranger", "staff"]


def asker_and_owner(seeded: Seeded, asker: str) -> tuple[str, str]:
    """Return the wa_ids of who asks and whose data is at stake."""
    first, second = sorted(seeded.customers)[:2]
    return {
        "customer 2 about customer 1": (second, first),
        "customer 1 about customer 2": (first, second),
        "stranger": (STRANGER, first),
        "staff": (seeded.staff, second),
    }[asker]


def converse(stack: Stack, seeded: Seeded, ask: Ask, asker: str, owner: str, ref: str = "") -> Phone:
    """Ask `ask` as `asker`, naming `ref` where the steps name an id; return the phone."""
    others = [o for o in sorted(seeded.customers) if o != owner]
    own = seeded.customers[asker if asker in seeded.customers else others[0]].orders[0]
    phone = Phone(stack.rasa_url, asker)
    for step in ask.steps:
        text = (step.replace("{id}", ref).replace("{digits}", str(int(ref.split("-")[-1])) if ref else "")
                .replace("{own}", own).replace("{beyond}", str(phone.choices_offered() + 1)))
        phone.say(text)
    return phone


def leaked(shown: str, markers: set[str]) -> list[str]:
    """Return the markers that appear in what was shown."""
    return sorted(m for m in markers if m in shown)


ID_ASKS = [a for a in ASKS if a.names]
LIST_ASKS = [a for a in ASKS if not a.names]


@pytest.mark.parametrize("asker", ASKERS)
@pytest.mark.parametrize("ask", ID_ASKS, ids=[a.id for a in ID_ASKS])
def test_naming_another_customers_id_reads_exactly_like_a_missing_one(stack, seeded, ask, asker):
    """Another customer's id gets word for word the missing-id answer and none of their data; staff get the data."""
    asker_id, owner_id = asker_and_owner(seeded, asker)
    owner = seeded.customers[owner_id]
    other = owner.probe_order if ask.names == "order" else owner.probe_defect
    missing = seeded.missing_order if ask.names == "order" else seeded.missing_defect
    for_other = converse(stack, seeded, ask, asker_id, owner_id, other).shown()
    for_missing = converse(stack, seeded, ask, asker_id, owner_id, missing).shown()

    if asker_id == seeded.staff:
        assert f"I couldn't find {other}" not in for_other
        assert for_other.replace(other, "<id>") != for_missing.replace(missing, "<id>")
        return
    assert for_other.replace(other, "<id>") == for_missing.replace(missing, "<id>")
    if asker_id == STRANGER:
        assert NOT_REGISTERED in for_missing
        markers = set().union(*(c.markers for c in seeded.customers.values()))
    else:
        assert f"I couldn't find {missing} on your account" in for_missing
        markers = seeded.markers_only(owner_id, asker_id)
    assert leaked(for_other.replace(other, "<id>"), markers) == []


@pytest.mark.parametrize("asker", ASKERS)
@pytest.mark.parametrize("ask", LIST_ASKS, ids=[a.id for a in LIST_ASKS])
def test_lists_pages_and_numbers_show_only_the_askers_own_data(stack, seeded, ask, asker):
    """A customer's lists, pages and numbered picks show their own data only; strangers see none; staff see all."""
    asker_id, owner_id = asker_and_owner(seeded, asker)
    phone = converse(stack, seeded, ask, asker_id, owner_id)
    shown = phone.shown()
    last = "\n".join(r.get("text") or "" for r in phone.replies[-1])

    if "{beyond}" in ask.steps[-1] and asker_id != STRANGER:
        assert re.match(r"Please (choose a number from 1 to \d+|reply 1 for )", last), last
    if asker_id == seeded.staff:
        if ask.staff_sees_owner:
            assert leaked(shown, set(seeded.customers[owner_id].markers)), shown
        return
    if asker_id == STRANGER:
        assert (NOT_REGISTERED in shown) == ask.is_data
        markers = set().union(*(c.markers for c in seeded.customers.values()))
    else:
        me = seeded.customers[asker_id]
        assert any(mine in shown for mine in (*me.orders, *me.defects, me.first_name)), shown
        markers = seeded.markers_only(owner_id, asker_id)
    assert leaked(shown, markers) == []


def test_a_defect_cannot_be_filed_on_another_customers_order(stack, seeded):
    """Slipping another customer's order into a confirmed defect report files nothing on it; one's own order works."""
    first, second = sorted(seeded.customers)[:2]
    theirs, mine = seeded.customers[first], seeded.customers[second]
    before = defects_on(stack.db_url, theirs.orders), defects_on(stack.db_url, mine.orders)

    phone = Phone(stack.rasa_url, second)
    for step in ("/report_defect", mine.orders[0], "The cones arrived crushed and wet", "/skip",
                 tap("report_defect", order_id=theirs.probe_order), "/affirm",
                 tap("inform", order_id=theirs.probe_order), "/affirm", "cancel"):
        phone.say(step)
    assert defects_on(stack.db_url, theirs.orders) == before[0]
    assert "logged for" not in phone.shown()

    phone = Phone(stack.rasa_url, second)
    for step in ("/report_defect", mine.orders[0], "The cones arrived crushed and wet", "/skip", "/affirm"):
        phone.say(step)
    assert f"logged for {mine.orders[0]}" in phone.shown()
    assert defects_on(stack.db_url, mine.orders) == before[1] + 1
