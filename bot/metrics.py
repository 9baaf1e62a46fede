"""Prometheus metrics, defined once and shared by the core and the adapters."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

__all__ = [
    "DELIVERIES",
    "HANDLER_SECONDS",
    "INBOUND",
    "NLU_FALLBACKS",
    "NLU_REQUESTS",
    "TICKET_FILINGS",
    "TICKET_STATUS_EVENTS",
    "TURN_CONFLICTS",
    "TURN_ERRORS",
    "WEBHOOK_REJECTED",
    "child",
]

INBOUND = Counter(
    "minhu_inbound_messages_total",
    "Inbound messages by channel and outcome (accepted, duplicate).",
    ["channel", "outcome"],
)
WEBHOOK_REJECTED = Counter(
    "minhu_webhook_rejected_total",
    "Webhook requests refused before processing, by channel and reason.",
    ["channel", "reason"],
)
TURN_ERRORS = Counter(
    "minhu_turn_errors_total", "Turns that failed and were left for recovery."
)
TURN_CONFLICTS = Counter(
    "minhu_turn_conflicts_total",
    "Turns run again because another replica changed the conversation meanwhile.",
)
HANDLER_SECONDS = Histogram(
    "minhu_handler_seconds",
    "Time spent understanding and handling one turn, by handler.",
    ["handler"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8),
)
NLU_REQUESTS = Counter(
    "minhu_nlu_requests_total", "Understanding requests by source (rasa, keywords, payload).",
    ["source"],
)
NLU_FALLBACKS = Counter(
    "minhu_nlu_fallbacks_total",
    "Times the keyword fallback answered because the NLU service failed, by reason.",
    ["reason"],
)
DELIVERIES = Counter(
    "minhu_deliveries_total",
    "Outbox delivery attempts by channel and result (sent, retry, dead) and route.",
    ["channel", "result", "via"],
)
TICKET_FILINGS = Counter(
    "minhu_ticket_filings_total",
    "Attempts to file residents' requests in the ticket backend, by outcome "
    "(filed, deferred, retry, rejected).",
    ["outcome"],
)
TICKET_STATUS_EVENTS = Counter(
    "minhu_ticket_status_events_total",
    "Ticket status changes received, by what became of them (fed, stale, unknown_ticket).",
    ["outcome"],
)


# A metric's labelled children, looked up once: ``labels()`` validates and
# hashes its arguments on every call, which costs more than ``inc()``.
_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Counter | Histogram, *labels: str) -> Any:
    """``metric.labels(*labels)``, remembered."""
    key = (id(metric), labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*labels)
    return found
