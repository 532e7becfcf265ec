"""The business-data layer, as the assistant's callers see it, on a real SQLite file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from database.clock import local_day_bounds
from database.customers import find_customer
from database.defects import count_defects, create_defect, defect_history, find_defect
from database.models import Base
from connectors.management.tables import metadata as management_metadata
from connectors.whatsapp.tables import metadata as channel_metadata
from connectors.staff.tables import metadata as staff_metadata
from database.orders import count_orders, find_order, recent_orders
from database.schedule import active_runs, runs_between
from database.seed import seed
from database.session import engine
from database.support import create_ticket

ASHA = "919800000001"
BHARAT = "919800000002"
STAFF = "919800000009"
STRANGER = "919800000099"
ASHA_ORDERS = {f"ORD-1000{n}" for n in (1, 2, 4, 5, 6, 7, 8)}


def _week(today: date):
    start, _ = local_day_bounds(today)
    _, end = local_day_bounds(today + timedelta(days=6))
    return start, end


def test_migrations_match_models(database):
    """The migrated schema is exactly what the models and the channels' tables declare."""
    with engine().connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, [Base.metadata, channel_metadata, management_metadata,
                                          staff_metadata]) == []


def test_asha_pages_through_her_seven_orders(today):
    """Asha sees her seven orders newest first, five on the first page and two on the second."""
    first = recent_orders(ASHA, limit=5, offset=0)
    second = recent_orders(ASHA, limit=5, offset=5)
    placed = [order.placed_on for order in first + second]

    assert count_orders(ASHA) == 7
    assert (len(first), len(second)) == (5, 2)
    assert {order.ref for order in first + second} == ASHA_ORDERS
    assert placed == sorted(placed, reverse=True)


def test_shipped_order_shows_carrier_and_latest_event(today):
    """Asha's shipped order shows its carrier, tracking number and the dispatch event."""
    order = find_order(ASHA, "ORD-10001")

    assert (order.status, order.carrier, order.tracking_no) == ("shipped", "BlueDart", "BD123456789IN")
    assert order.last_event == "Dispatched from Surat plant"
    assert order.estimated_on == today + timedelta(days=1)


def test_other_company_records_look_missing(today):
    """Bharat asking for Asha's order or defect gets the same None as for a ref that does not exist."""
    assert find_order(BHARAT, "ORD-10001") is None
    assert find_order(BHARAT, "ORD-99999") is None
    assert find_defect(BHARAT, "DEF-0001") is None
    assert find_defect(BHARAT, "DEF-9999") is None
    assert find_defect(BHARAT, "DEF-0003").order_ref == "ORD-10003"


def test_staff_see_every_company(today):
    """Staff find Bharat's order and count every order and defect."""
    order = find_order(STAFF, "ORD-10003")

    assert (order.company, order.status) == ("Bharat Textiles", "in_production")
    assert (count_orders(STAFF), count_defects(STAFF)) == (8, 3)


def test_create_defect_refuses_another_companys_order(today):
    """Bharat cannot file a defect against Asha's order, and nothing is stored."""
    assert create_defect(BHARAT, "ORD-10001", "Wrong shade") is None
    assert count_defects(STAFF) == 3


def test_create_defect_allocates_next_ref(today):
    """A valid report gets DEF-0004, starts open and tops Asha's history."""
    defect = create_defect(ASHA, "ORD-10002", "Roll edges frayed", photo_ref="media-123")

    assert (defect.ref, defect.order_ref, defect.status) == ("DEF-0004", "ORD-10002", "open")
    assert defect_history(ASHA)[0] == defect
    assert find_defect(ASHA, "DEF-0004") == defect


def test_concurrent_defects_get_distinct_refs(today):
    """Eight reports filed at once each get their own consecutive ref."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        defects = list(pool.map(lambda n: create_defect(ASHA, "ORD-10002", f"Issue {n}"), range(8)))

    assert sorted(d.ref for d in defects) == [f"DEF-{n:04d}" for n in range(4, 12)]


def test_hand_typed_refs_do_not_break_numbering(today):
    """Refs someone typed by hand (DEF-12a, DEF-X) are skipped: the next report still gets DEF-0004."""
    from sqlalchemy import update

    from database.models import DefectReport
    from database.session import sessions

    with sessions().begin() as session:
        ids = session.scalars(select(DefectReport.id).order_by(DefectReport.id)).all()
        session.execute(update(DefectReport).where(DefectReport.id == ids[0]).values(ref="DEF-12a"))
        session.execute(update(DefectReport).where(DefectReport.id == ids[1]).values(ref="DEF-X"))

    assert create_defect(ASHA, "ORD-10002", "Roll edges frayed").ref == "DEF-0004"


def test_bharat_sees_only_runs_for_his_order(today):
    """Bharat's week schedule lists only ORD-10003 runs, never stock or Asha's runs."""
    runs = runs_between(BHARAT, *_week(today))

    assert runs and {run.order_ref for run in runs} == {"ORD-10003"}


def test_staff_have_runs_every_day_of_the_week(today):
    """Each of the next seven days has at least one run on the staff schedule, stock included."""
    days = [today + timedelta(days=n) for n in range(7)]

    assert all(runs_between(STAFF, *local_day_bounds(day)) for day in days)
    assert None in {run.order_ref for run in runs_between(STAFF, *_week(today))}


def test_active_runs_show_progress_and_delays(today):
    """At 08:00 today staff see the running run part-done and the delayed one; Asha sees only hers."""
    start, _ = local_day_bounds(today)
    now = start + timedelta(hours=8)
    runs = active_runs(STAFF, now)
    running = [run for run in runs if run.status == "running"]
    asha_runs = active_runs(ASHA, now)

    assert running and all(0 < run.percent_done < 100 for run in running)
    assert any(run.status == "delayed" for run in runs)
    assert asha_runs and all(run.order_ref in ASHA_ORDERS for run in asha_runs)


def test_seeding_twice_gives_the_same_data(today):
    """Running the seed again leaves exactly the same orders, defects and runs."""
    def snapshot():
        return (
            recent_orders(STAFF, limit=100),
            defect_history(STAFF, limit=100),
            runs_between(STAFF, *_week(today)),
        )

    create_defect(ASHA, "ORD-10002", "Extra report the reseed should remove")
    before = snapshot()
    seed(today)
    after = snapshot()
    seed(today)

    assert snapshot() == after
    assert (len(after[0]), len(after[1]), len(after[2])) == (8, 3, 11)
    assert len(before[1]) == 4


def test_unregistered_number_sees_nothing_but_can_open_a_ticket(today):
    """919800000099 is unknown, sees no orders or runs, and still gets a support ticket."""
    assert find_customer(STRANGER) is None
    assert recent_orders(STRANGER) == [] and count_orders(STRANGER) == 0
    assert runs_between(STRANGER, *_week(today)) == []
    assert create_defect(STRANGER, "ORD-10001", "Broken") is None

    ticket = create_ticket(STRANGER, "Please call me about a quote")
    assert (ticket.ref, ticket.status) == ("TCK-0001", "open")
    assert create_ticket(ASHA, "Invoice copy").ref == "TCK-0002"


def test_registered_people_are_recognised(today):
    """Asha is a customer of Asha Traders and Priya is staff."""
    asha, priya = find_customer(ASHA), find_customer(STAFF)

    assert (asha.name, asha.company, asha.is_staff) == ("Asha Mehta", "Asha Traders", False)
    assert (priya.name, priya.is_staff) == ("Priya Shah", True)


def test_local_day_bounds_follow_the_assistant_timezone(database):
    """An IST calendar day runs from 18:30 UTC the evening before to 18:30 UTC that evening."""
    start, end = local_day_bounds(date(2024, 3, 10))

    assert (start.isoformat(), end.isoformat()) == ("2024-03-09T18:30:00", "2024-03-10T18:30:00")
