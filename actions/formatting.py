"""Pure rendering of answers for a phone screen: key fact first, human dates, short lists."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Optional, Sequence
from zoneinfo import ZoneInfo

from database.clock import assistant_timezone
from database.statuses import DEFECT_STATUS, ORDER_STATUS, RUN_STATUS

PAGE_SIZE = 5



def human_date(day: Optional[date], today: date) -> str:
    """Return "today", "tomorrow", "yesterday" or "Thu 26 Nov" (with year if not this year)."""
    if day is None:
        return "not set"
    delta = (day - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    if delta == -1:
        return "yesterday"
    label = f"{day:%a} {day.day} {day:%b}"
    return label if day.year == today.year else f"{label} {day.year}"


def local_time(moment: datetime, tz: ZoneInfo) -> datetime:
    """Convert a naive UTC datetime from the database to local time."""
    return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)


def local_date(moment: datetime, tz: Optional[ZoneInfo] = None) -> date:
    """Return the local calendar day of a naive UTC datetime from the database."""
    return local_time(moment, tz or assistant_timezone()).date()


def order_status_label(status: str) -> str:
    """Return the words and emoji for an order status."""
    words, emoji = ORDER_STATUS.get(status, (status.replace("_", " "), "•"))
    return f"{words} {emoji}"


def order_status(order, today: date) -> str:
    """Render one order's status: status first, then dates, carrier, last update."""
    lines = [f"*{order.ref}* is *{order_status_label(order.status)}*"]
    lines.append(f"{order.product} × {order.quantity}")
    if is_open(order):
        lines.append(delivery_line(order, today))
    if order.carrier:
        tracking = f" · tracking {order.tracking_no}" if order.tracking_no else ""
        lines.append(f"Carrier: {order.carrier}{tracking}")
    if order.last_event:
        when = f" ({human_date(local_date(order.last_event_at), today)})" if order.last_event_at else ""
        lines.append(f"Last update: {order.last_event}{when}")
    return "\n".join(lines)


def is_open(order) -> bool:
    """Return True while an order is still on its way to the customer."""
    return order.status not in ("delivered", "cancelled")


def delivery_line(order, today: date) -> str:
    """Render when an open order should arrive."""
    expected = order.estimated_on or order.promised_on
    line = f"Expected delivery: *{human_date(expected, today)}*"
    if order.promised_on and order.estimated_on and order.estimated_on > order.promised_on:
        line += f" (promised {human_date(order.promised_on, today)}, running late)"
    return line


def delivery_estimate(order, today: date) -> str:
    """Render the delivery answer: the date first."""
    if order.status == "delivered":
        when = f" ({human_date(local_date(order.last_event_at), today)})" if order.last_event_at else ""
        return f"*{order.ref}* has been delivered ✅{when}"
    if order.status == "cancelled":
        return f"*{order.ref}* was cancelled ✖️, so it has no delivery date."
    return f"*{order.ref}*: {delivery_line(order, today)}\nStatus: {order_status_label(order.status)}"


def order_row(order, today: date, with_company: bool = False) -> str:
    """Render an order as one list entry (staff also see whose it is)."""
    details = f"{order.product} × {order.quantity}"
    if with_company:
        details = f"{order.company} · {details}"
    if is_open(order):
        details += f" · {delivery_line(order, today)}"
    return f"*{order.ref}* — {order_status_label(order.status)}\n{details}"


def defect_status(defect, today: date) -> str:
    """Render one defect report: status first."""
    words, emoji = DEFECT_STATUS.get(defect.status, (defect.status, "•"))
    lines = [f"*{defect.ref}* is *{words}* {emoji}", f"Order {defect.order_ref}: {defect.description}"]
    lines.append(f"Reported {human_date(local_date(defect.created_at), today)}")
    if defect.photo_ref:
        lines.append("Photo attached 📎")
    if defect.resolution:
        lines.append(f"Resolution: {defect.resolution}")
    return "\n".join(lines)


def defect_row(defect, today: date) -> str:
    """Render a defect report as one list entry."""
    words, emoji = DEFECT_STATUS.get(defect.status, (defect.status, "•"))
    return (
        f"*{defect.ref}* — {words} {emoji}\n"
        f"{defect.order_ref} · reported {human_date(local_date(defect.created_at), today)}"
    )


def run_row(run, today: date, tz: ZoneInfo, with_day: bool = False) -> str:
    """Render a production run as one list entry."""
    start, end = local_time(run.starts_at, tz), local_time(run.ends_at, tz)
    label = human_date(start.date(), today)
    day = f"{label[:1].upper()}{label[1:]} " if with_day else ""
    for_order = f" ({run.order_ref})" if run.order_ref else " (stock)"
    progress = f" · {run.percent_done}%" if run.status in ("running", "delayed") else ""
    return (
        f"{day}{start:%H:%M}–{end:%H:%M} · {run.line}\n"
        f"{run.product}{for_order} · {RUN_STATUS.get(run.status, run.status)}{progress}"
    )


def run_progress(run, today: date, tz: ZoneInfo) -> str:
    """Render how far a run is: the percentage first."""
    end = local_time(run.ends_at, tz)
    for_order = f" for {run.order_ref}" if run.order_ref else " (stock)"
    return (
        f"*{run.percent_done}%* {run.product}{for_order} — {RUN_STATUS.get(run.status, run.status)}\n"
        f"{run.line} · {run.done_qty}/{run.planned_qty} done · ends {human_date(end.date(), today)} {end:%H:%M}"
    )


def page_footer(shown_to: int, total: int) -> str:
    """Tell how much of a list is shown and how to see more."""
    if shown_to >= total:
        return ""
    return f"Showing {shown_to} of {total}. Reply *MORE* for the next {min(PAGE_SIZE, total - shown_to)}."


def join_blocks(header: str, blocks: Sequence[str], footer: str = "") -> str:
    """Join a header, list entries and a footer with blank lines, skipping empties.

    Only for a message that also carries buttons: channels send text-only
    messages split at blank lines, one chat bubble per part.
    """
    return "\n\n".join(part for part in [header, *blocks, footer] if part)


def join_lines(header: str, blocks: Sequence[str], footer: str = "") -> str:
    """Join a header, bulleted list entries and a footer into one bubble (no blank lines)."""
    items = ["• " + block.replace("\n", "\n   ") for block in blocks]
    return "\n".join(part for part in [header, *items, footer] if part)


def week_bounds(today: date) -> tuple[date, date]:
    """Return today and the day six days later (a rolling week)."""
    return today, today + timedelta(days=6)
