"""Prometheus series of the saga worker (the breaker gauge lives in breaker.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("saga_messages_total", "Saga messages by result (advanced, skipped).",
                   ["result"])
OUTCOMES = Counter("saga_outcomes_total", "Sagas that ended, by status and cancel reason.",
                   ["status", "reason"])
COMPENSATIONS = Counter("saga_compensations_total", "Sagas that began compensating, by reason.",
                        ["reason"])
RETRIES = Counter("saga_step_retries_total", "Steps re-scheduled after a transient failure.",
                  ["step"])
STEP_SECONDS = Histogram(
    "saga_step_seconds", "Duration of each saga step call, by step and result.",
    ["step", "result"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SWEPT = Counter("saga_sweeper_requeued_total", "Overdue sagas the sweeper re-enqueued.")
DEAD_LETTERS = Counter("saga_dead_letters_total", "Messages stored as dead letters.")
LAST_SWEEP = Gauge("saga_sweeper_last_run_timestamp_seconds",
                   "When this worker's sweeper last completed a round (liveness).")
