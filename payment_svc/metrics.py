"""Prometheus series of the payment service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CHARGES = Counter(
    "payment_charges_total",
    "Charge calls by outcome (succeeded, declined, fraud_suspected, transient, velocity_limited, "
    "replayed, idempotency_key_reused, invalid).",
    ["outcome"],
)
REFUNDS = Counter(
    "payment_refunds_total",
    "Refund calls by outcome (succeeded, replayed, rejected, charge_in_flight, "
    "idempotency_key_reused, invalid).",
    ["outcome"],
)
GATEWAY_SECONDS = Histogram(
    "payment_gateway_latency_seconds",
    "Simulated gateway latency of each charge attempt.",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3),
)
