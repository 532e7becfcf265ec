"""The CSV importer on the example files and on broken ones: all or nothing, every problem located."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from database.customers import find_customer
from database.models import Company, Customer, DefectReport, Order, ProductionRun
from database.orders import recent_orders
from database.session import sessions
from connectors.data import importer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"
FILES = {"companies": EXAMPLES / "companies.csv", "contacts": EXAMPLES / "contacts.csv",
         "orders": EXAMPLES / "orders.csv", "production-runs": EXAMPLES / "production_runs.csv",
         "defects": EXAMPLES / "defects.csv"}
ORDER_HEADER = "ref,company_ref,product,quantity,status,placed_on,promised_on\n"


def counts() -> tuple[int, ...]:
    """Return the row counts of the tables an import writes."""
    with sessions()() as session:
        return tuple(session.scalar(select(func.count()).select_from(m))
                     for m in (Company, Customer, Order, ProductionRun, DefectReport))


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write a CSV file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_files_load_and_their_contacts_see_their_orders(seeded):
    """Importing examples/import creates every row; Meena (purchase manager) sees both Kiran Mills orders."""
    report = importer.run(FILES)
    assert report.written and report.problems == []
    assert report.counts["orders"] == {"created": 3, "updated": 0, "unchanged": 0}
    meena = find_customer("919811110002")
    assert (meena.company, meena.name) == ("Kiran Mills", "Meena Iyer")
    assert sorted(o.ref for o in recent_orders("919811110002", limit=10)) == ["ORD-30001", "ORD-30002"]
    assert [o.ref for o in recent_orders("919811110003", limit=10)] == ["ORD-30003"]


def test_importing_the_same_files_again_changes_nothing(seeded):
    """A second import of the same export reports every row unchanged and adds no row."""
    importer.run(FILES)
    before = counts()
    report = importer.run(FILES)
    assert report.written and all(c["created"] == c["updated"] == 0 for c in report.counts.values())
    assert counts() == before


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(seeded):
    """--dry-run checks every file, references included, and leaves the database as it was."""
    before = counts()
    report = importer.run(FILES, dry_run=True)
    assert not report.written and report.problems == []
    assert report.counts["companies"]["created"] == 2
    assert counts() == before


def test_one_bad_row_imports_nothing_and_is_named_by_file_line_and_field(seeded, tmp_path):
    """Two good orders and one with a bad quantity: nothing is written, and line 3's quantity is named."""
    orders = write(tmp_path, "orders.csv", ORDER_HEADER +
                   "ORD-40001,KM-1001,Yarn,10,received,2026-12-01,2026-12-09\n"
                   "ORD-40002,KM-1001,Yarn,ten,received,2026-12-01,2026-12-09\n"
                   "ORD-40003,KM-1001,Yarn,5,received,2026-12-01,2026-12-09\n")
    before = counts()
    report = importer.run({"companies": FILES["companies"], "orders": orders})
    assert [(p.file, p.line, p.field, p.code) for p in report.problems] == [
        ("orders.csv", 3, "quantity", "invalid_integer")]
    assert not report.written and counts() == before


def test_every_problem_is_reported_references_included(seeded, tmp_path):
    """Header, field and reference problems across files are all listed, each with its line."""
    contacts = write(tmp_path, "contacts.csv", "wa_id,company_ref,name,role,colour\n"
                     "919811110001,KM-1001,Kiran Rao,customer,red\n"
                     "98000,KM-1001,Nobody,boss,\n")
    orders = write(tmp_path, "orders.csv", ORDER_HEADER +
                   "ORD-40001,NO-SUCH,Yarn,10,received,2026-12-01,2026-12-09\n"
                   "\n"
                   "\"ORD-40002\",KM-1001,\"Yarn\",10,shipped,2026-12-01,2026-11-09\n")
    report = importer.run({"companies": FILES["companies"], "contacts": contacts, "orders": orders})
    assert [(p.file, p.line, p.field, p.code) for p in report.problems] == [
        ("contacts.csv", 1, "colour", "unknown_column"),
        ("contacts.csv", 3, "wa_id", "invalid_wa_id"),
        ("contacts.csv", 3, "role", "invalid_choice"),
        ("orders.csv", 2, "company_ref", "unknown_company"),
        ("orders.csv", 4, "promised_on", "before_placed_on"),
    ]
    assert counts()[0] == 3  # the demo companies only


def test_a_missing_required_column_is_named_once(seeded, tmp_path):
    """A file without the quantity column gets one problem for the header, not one per row."""
    orders = write(tmp_path, "orders.csv", "ref,company_ref,product,status,placed_on,promised_on\n"
                   "ORD-40001,ASHA-TRADERS,Yarn,received,2026-12-01,2026-12-09\n" * 3)
    report = importer.run({"orders": orders})
    assert [(p.line, p.field, p.code) for p in report.problems] == [(1, "quantity", "missing_column")]


def test_the_command_prints_each_problem_and_exits_1(seeded, tmp_path, capsys):
    """The command line names file:line and field, says nothing was written and exits with 1."""
    orders = write(tmp_path, "orders.csv", ORDER_HEADER + "ORD-40001,ASHA-TRADERS,Yarn,0,received,2026-12-01,2026-12-09\n")
    assert importer.main(["--orders", str(orders)]) == 1
    err = capsys.readouterr().err
    assert "nothing was written" in err and "orders.csv:2: quantity: must be from 1 to" in err


def test_the_command_imports_and_says_so(seeded, capsys):
    """A clean import prints counts per file and 'imported'."""
    args = [arg for kind, path in FILES.items() for arg in (f"--{kind}", str(path))]
    assert importer.main(args) == 0
    out = capsys.readouterr().out
    assert "orders.csv: 3 created, 0 updated, 0 unchanged" in out and out.strip().endswith("imported")


@pytest.fixture
def seeded(database: str) -> str:
    """A fresh migrated SQLite file with the demo data."""
    from database.seed import seed
    seed()
    return database
