"""Prometheus text exposition of the channel's figures, computed from the database on each scrape.

Counters are counts of rows in terminal states, so they only grow while rows are kept: messages in
(every stored inbound message), messages out (rows Graph accepted), sends given up, Graph errors of
failed sends and failed delivery statuses by Meta code, notifications queued. Gauges are the present
state: queue depth, sends waiting to be retried by last error code, pending inbound, handoffs.
Reply latency is a histogram of the time from an inbound message's arrival to the first of its
replies Graph accepted.
"""
from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from typing import Iterable, Mapping, Sequence

from sqlalchemy import func, select

from database.session import sessions
from connectors.management.handoff import handoffs
from connectors.management.tables import notifications
from connectors.whatsapp.tables import inbound, outbox, statuses

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

Sample = tuple[Mapping[str, str], float]


def render() -> str:
    """Return every metric in the Prometheus text format."""
    i, o, s, n = inbound.c, outbox.c, statuses.c, notifications.c
    with sessions()() as session:
        def grouped(*columns, where=None, table=None):
            stmt = select(*columns, func.count()).select_from(table).group_by(*columns)
            return session.execute(stmt if where is None else stmt.where(where)).all()

        messages_in = grouped(i.kind, table=inbound)
        messages_out = grouped(o.kind, table=outbox, where=o.state == "sent")
        given_up = grouped(o.kind, o.last_error, table=outbox, where=o.state == "failed")
        send_errors = grouped(o.last_error_code, table=outbox,
                              where=(o.state == "failed") & o.last_error_code.is_not(None))
        retrying = grouped(o.last_error_code, table=outbox,
                           where=(o.state == "queued") & o.last_error_code.is_not(None))
        queue = grouped(o.state, table=outbox, where=o.state.in_(("queued", "sending")))
        pending_in = session.scalar(select(func.count()).select_from(inbound)
                                    .where(i.state.in_(("pending", "processing"))))
        failed_statuses = session.execute(select(s.error_codes).where(s.status == "failed")).scalars().all()
        waiting = session.scalar(select(func.count()).select_from(handoffs).where(handoffs.c.open_key.is_not(None)))
        notified = grouped(n.entity, table=notifications, where=n.outcome == "queued")
        first_reply = (select(i.received_at, func.min(o.sent_at).label("sent_at"))
                       .join(outbox, o.inbound_wamid == i.wamid)
                       .where(o.sent_at.is_not(None)).group_by(i.id, i.received_at))
        latencies = [max(0.0, (r.sent_at - r.received_at).total_seconds()) for r in session.execute(first_reply)]
    delivery_errors: Counter = Counter()
    for codes in failed_statuses:
        for code in codes or [None]:
            delivery_errors[str(code) if code is not None else "unknown"] += 1
    lines: list[str] = []
    _family(lines, "whatsapp_messages_in_total", "counter", "Inbound WhatsApp messages stored, by kind.",
            [({"kind": k}, c) for k, c in messages_in])
    _family(lines, "whatsapp_messages_out_total", "counter",
            "Outbound messages Graph accepted, by outbox kind (reply, notice, staff, api, template, ...).",
            [({"kind": k}, c) for k, c in messages_out])
    _family(lines, "whatsapp_messages_out_failed_total", "counter",
            "Outbound messages given up for good, by outbox kind and reason.",
            [({"kind": k, "reason": r or "unknown"}, c) for k, r, c in given_up])
    _family(lines, "whatsapp_graph_errors_total", "counter",
            "Graph errors by Meta code: sends that failed for good (stage=send) and failed delivery "
            "statuses (stage=delivery).",
            [({"code": str(code), "stage": "send"}, c) for code, c in send_errors]
            + [({"code": code, "stage": "delivery"}, c) for code, c in sorted(delivery_errors.items())])
    _family(lines, "whatsapp_outbox_retrying", "gauge",
            "Queued sends waiting to be retried, by the Meta code of their last error.",
            [({"code": str(code)}, c) for code, c in retrying])
    depth = dict(queue)
    _family(lines, "whatsapp_outbound_queue_depth", "gauge", "Outbox rows not sent yet, by state.",
            [({"state": state}, depth.get(state, 0)) for state in ("queued", "sending")])
    _family(lines, "whatsapp_inbound_pending", "gauge", "Inbound messages waiting for their Rasa turn.",
            [({}, pending_in or 0)])
    _family(lines, "whatsapp_handoffs_waiting", "gauge", "Conversations a person has (the bot is paused).",
            [({}, waiting or 0)])
    _family(lines, "whatsapp_notifications_total", "counter", "Status-change notifications queued, by entity.",
            [({"entity": e}, c) for e, c in notified])
    _histogram(lines, "whatsapp_reply_latency_seconds",
               "Seconds from an inbound message's arrival to the first of its replies Graph accepted.",
               sorted(latencies), LATENCY_BUCKETS)
    return "\n".join(lines) + "\n"


def _family(lines: list[str], name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> None:
    """Append one metric family: HELP, TYPE and its samples."""
    lines += [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples]


def _histogram(lines: list[str], name: str, help_text: str, values: Sequence[float],
               buckets: Sequence[float]) -> None:
    """Append a histogram of sorted values with cumulative buckets, +Inf, sum and count."""
    lines += [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} histogram"]
    for bound in buckets:
        lines.append(f'{name}_bucket{{le="{_number(bound)}"}} {bisect_right(values, bound)}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {len(values)}')
    lines.append(f"{name}_sum {_number(sum(values))}")
    lines.append(f"{name}_count {len(values)}")


def _labels(labels: Mapping[str, str]) -> str:
    """Return {k="v",...} with values escaped, or nothing."""
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape_value(str(v))}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape_value(value: str) -> str:
    """Escape a label value: backslash, double quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    """Escape HELP text: backslash and newline."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    """Return a sample value the way Prometheus prints it."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
