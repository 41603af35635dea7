"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

EVENTS_PUBLISHED = Counter(
    "loa_events_published_total", "Events published by the relay", ["service"]
)
OUTBOX_BACKLOG = Gauge("loa_outbox_backlog", "Events committed but not yet published", ["service"])
EVENTS_HANDLED = Counter(
    "loa_events_handled_total", "Events handled by subscribers", ["subscription", "outcome"]
)
EVENT_HANDLER_SECONDS = Histogram(
    "loa_event_handler_seconds", "Event handler duration", ["subscription"]
)
HTTP_REQUESTS = Counter("loa_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_SECONDS = Histogram("loa_http_request_seconds", "HTTP request duration", ["route"])
RPC_SECONDS = Histogram("loa_rpc_seconds", "RPC handling duration", ["service", "method"])
DECRYPT_FAILURES = Counter(
    "loa_feedback_decrypt_failures_total",
    "Stored personal data no key of LOA_FEEDBACK_PII_KEYS could decrypt",
    ["what"],
)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
