"""The business's own data over the real stack: loaded through the data API or the CSV importer, then
seen by customers on WhatsApp (signed webhooks in, the Graph stand-in playing their phones)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.data.data_stack import DataStack, data_stack
from tests.e2e.whatsapp_fixtures import body_text
from tests.management.operator_stack import eventually

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "import"
SCAN_SECONDS = 1.0
KIRAN = "919822220001"
COMPANY = {"ref": "KM-2001", "name": "Kiran Mills"}
CONTACT = {"wa_id": KIRAN, "company_ref": "KM-2001", "name": "Kiran Rao", "role": "customer", "title": "owner"}
ORDER = {"ref": "ORD-20001", "company_ref": "KM-2001", "product": "Cotton yarn 60s", "quantity": 120,
         "status": "in_production", "placed_on": "2026-12-01", "promised_on": "2026-12-20",
         "status_note": "Spinning started on Line A"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataStack]:
    """The whole stack with the data API on and fast notification scans."""
    with data_stack(tmp_path_factory.mktemp("data-e2e"), {"NOTIFY_SCAN_SECONDS": str(SCAN_SECONDS)}) as running:
        yield running


def phone(stack: DataStack, wa_id: str) -> list[str]:
    """Return what a phone shows, message by message."""
    return [body_text(m) if m["type"] in ("text", "interactive") else m["type"]
            for m in stack.operator.whatsapp.graph.sent_to(wa_id)]


def import_csv(stack: DataStack, *args: str) -> subprocess.CompletedProcess:
    """Run the importer command against the stack's database, as an operator would."""
    return subprocess.run([sys.executable, "-m", "connectors.data.importer", *args], cwd=ROOT,
                          env=stack.operator.whatsapp.stack.env, capture_output=True, text=True, timeout=120)


def test_a_contact_created_through_the_api_says_hi_and_sees_their_order(stack):
    """Kiran, loaded with his company and order through the API, is greeted by name and finds ORD-20001."""
    assert stack.put("companies", COMPANY)[0] == 200
    assert stack.put("contacts", CONTACT)[0] == 200
    assert stack.put("orders", ORDER)[0] == 200
    whatsapp = stack.operator.whatsapp

    whatsapp.say(KIRAN, "hi")
    greeting = body_text(whatsapp.graph.wait_for(KIRAN, 2)[0])
    assert greeting.startswith("Hello Kiran")
    whatsapp.say(KIRAN, "where is my order ORD-20001?")
    answer = body_text(whatsapp.graph.wait_for(KIRAN, 3)[-1])
    assert "ORD-20001" in answer and "Cotton yarn 60s" in answer and "in production" in answer.lower()
    whatsapp.say(KIRAN, "where is my order ORD-10001?")  # Asha's: as if it did not exist
    assert body_text(whatsapp.graph.wait_for(KIRAN, 4)[-1]).startswith("I couldn't find ORD-10001 on your account.")
    assert "Cotton yarn 40s" not in " ".join(phone(stack, KIRAN))


def test_a_status_change_through_the_api_reaches_the_customer_exactly_once(stack):
    """Moving ORD-20001 to shipped through the API gives Kiran one message, however often it is sent again."""
    stack.put("companies", COMPANY)
    stack.put("contacts", CONTACT)
    stack.put("orders", ORDER)
    whatsapp, operator = stack.operator.whatsapp, stack.operator
    whatsapp.say(KIRAN, "hi")  # opens his 24-hour window, so the news comes as free-form text
    before = len(whatsapp.settled(KIRAN, 2, quiet=1.0))
    eventually(lambda: operator.sql("SELECT 1 FROM notifications WHERE ref = 'ORD-20001'"), what="baseline")

    shipped = {**ORDER, "status": "shipped", "carrier": "BlueDart", "tracking_no": "BD700100200IN",
               "status_note": "Dispatched from Surat plant"}
    status, body = stack.put("orders", shipped)
    assert (status, body["updated"]) == (200, 1)
    news = body_text(whatsapp.graph.wait_for(KIRAN, before + 1)[-1])
    assert news == "🚚 Update on your order *ORD-20001* (Cotton yarn 60s): it is now *shipped*."
    assert stack.put("orders", shipped)[1]["unchanged"] == 1  # the ERP sends the same row again
    time.sleep(3 * SCAN_SECONDS)  # at least two more scans
    assert [t for t in phone(stack, KIRAN) if "shipped" in t] == [news]
    assert operator.sql("SELECT e.status FROM order_events e JOIN orders o ON o.id = e.order_id "
                        "WHERE o.ref = 'ORD-20001' ORDER BY e.id")[-1] == ("shipped",)
    assert operator.sql("SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id "
                        "WHERE o.ref = 'ORD-20001' AND e.status = 'shipped'") == [(1,)]


def test_a_csv_import_with_one_bad_row_imports_nothing_and_names_the_row(stack, tmp_path):
    """One bad quantity on line 3 of orders.csv: the command names it, and no company, contact or order arrives."""
    orders = (EXAMPLES / "orders.csv").read_text().splitlines()
    orders[2] = orders[2].replace(",40,", ",forty,")
    bad = tmp_path / "orders.csv"
    bad.write_text("\n".join(orders) + "\n")
    files = ["--companies", str(EXAMPLES / "companies.csv"), "--contacts", str(EXAMPLES / "contacts.csv")]

    result = import_csv(stack, *files, "--orders", str(bad))
    assert result.returncode == 1
    assert "orders.csv:3: quantity: must be a whole number (invalid_integer)" in result.stderr
    assert "nothing was written" in result.stderr
    assert stack.call("GET", "/companies/KM-1001")[0] == 404
    assert stack.call("GET", "/contacts/919811110002")[0] == 404
    assert stack.call("GET", "/orders/ORD-30001")[0] == 404

    good = import_csv(stack, *files, "--orders", str(EXAMPLES / "orders.csv"))
    assert good.returncode == 0 and good.stdout.strip().endswith("imported")
    assert stack.call("GET", "/orders/ORD-30002")[1]["status"] == "shipped"
    meena, whatsapp = "919811110002", stack.operator.whatsapp
    whatsapp.say(meena, "hi")
    assert body_text(whatsapp.graph.wait_for(meena, 2)[0]).startswith("Hello Meena")  # now registered
    whatsapp.say(meena, "where is my order ORD-30002")
    answer = body_text(whatsapp.graph.wait_for(meena, 3)[-1])
    assert answer.startswith("*ORD-30002* is *shipped") and "BD700100200IN" in answer
