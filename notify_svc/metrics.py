"""Prometheus series of the notification service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERY_ATTEMPTS = Counter(
    "notify_delivery_attempts_total",
    "Delivery attempts by channel and outcome.",
    ["channel", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "notify_delivery_attempt_seconds",
    "Time of one delivery attempt by channel.",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SENDS = Counter(
    "notify_sends_total",
    "Send calls by result: delivered (this call sent), replayed (nothing to do), pending.",
    ["result"],
)
