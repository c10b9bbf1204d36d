"""The order saga as data: steps, compensations, retry policies and which failures cancel.

Reading order: FORWARD runs top to bottom; when a step fails for good (or the customer cancels,
or the deadline passes) the compensations of every step already attempted run bottom to top,
then the customer is told (SEND_CANCELLATION) and the order is marked CANCELLED. A step whose
outcome is unknown (a transient failure: the call may have landed) counts as attempted, so its
compensation runs too; every compensation treats "nothing to undo" as done.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tenacity
from tenacity.wait import wait_base


@dataclass(frozen=True)
class RetryPolicy:
    """How often a step is tried and how long to wait between tries (tenacity wait function)."""

    max_attempts: int
    wait: wait_base

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt
        return float(self.wait(state))


def backoff(first: float, cap: float, attempts: int) -> RetryPolicy:
    """Exponential backoff from `first` seconds, doubling up to `cap`, with ±jitter."""
    return RetryPolicy(
        max_attempts=attempts,
        wait=tenacity.wait_exponential_jitter(multiplier=first, max=cap, jitter=first),
    )


@dataclass(frozen=True)
class Step:
    """One saga step: the port method it calls, its downstream service, its retry rules."""

    name: str
    action: str | None  # method of SagaPorts; None for a local step (order status only)
    service: str | None  # circuit breaker name
    retry: RetryPolicy
    undo: str | None = None  # compensation step name
    best_effort: bool = False  # failure is recorded and the saga moves on
    timed: bool = True  # the saga deadline applies while this step is pending
    # Reasons (ErrorInfo.reason) meaning "already undone / nothing to undo" for a compensation.
    nothing_to_undo: frozenset[str] = field(default_factory=frozenset)


STOCK = "inventory"
PAYMENT = "payment"
NOTIFY = "notify"

# Forward steps retry quickly: the customer is waiting. The saga deadline bounds them anyway.
FORWARD: tuple[Step, ...] = (
    Step("RESERVE_STOCK", "reserve_stock", STOCK, backoff(0.2, 5, 8), undo="RELEASE_STOCK"),
    Step("CHARGE_PAYMENT", "charge_payment", PAYMENT, backoff(0.2, 10, 10), undo="REFUND_PAYMENT"),
    Step("COMMIT_STOCK", "commit_stock", STOCK, backoff(0.2, 10, 10), undo="RESTOCK"),
    # Paid and sold: from here on nothing but the customer cancels the order.
    Step("SEND_CONFIRMATION", "send_confirmation", NOTIFY, backoff(0.5, 10, 4),
         best_effort=True, timed=False),
    Step("COMPLETE_ORDER", None, None, backoff(0.2, 1, 1), timed=False),
)

# Compensations must finish: they retry for a long time, then the saga is FAILED for an operator.
COMPENSATIONS: dict[str, Step] = {
    step.name: step
    for step in (
        # A hold that was never committed is a conflict for RESTOCK: RELEASE_STOCK frees it.
        Step("RESTOCK", "restock", STOCK, backoff(0.5, 60, 20),
             nothing_to_undo=frozenset({"RESERVATION_NOT_FOUND", "RESERVATION_CONFLICT"})),
        Step("REFUND_PAYMENT", "refund_payment", PAYMENT, backoff(0.5, 60, 20),
             nothing_to_undo=frozenset({"PAYMENT_NOT_FOUND"})),
        # Released, expired and restocked holds answer OK; a never-made hold is NOT_FOUND.
        Step("RELEASE_STOCK", "release_stock", STOCK, backoff(0.5, 60, 20),
             nothing_to_undo=frozenset({"RESERVATION_NOT_FOUND", "RESERVATION_EXPIRED"})),
        Step("SEND_CANCELLATION", "send_cancellation", NOTIFY, backoff(0.5, 10, 4),
             best_effort=True),
        Step("MARK_CANCELLED", None, None, backoff(0.2, 1, 1)),
    )
}

# Always run after the undos, in this order.
CANCEL_TAIL: tuple[str, ...] = ("SEND_CANCELLATION", "MARK_CANCELLED")

# Permanent failures of forward steps → the order's cancel reason. Unlisted reasons (and
# permanent errors without a reason) cancel with DEFAULT_CANCEL_REASON.
CANCEL_REASONS: dict[str, str] = {
    "OUT_OF_STOCK": "OUT_OF_STOCK",
    "PRODUCT_NOT_FOUND": "PRODUCT_UNAVAILABLE",
    "PRODUCT_INACTIVE": "PRODUCT_UNAVAILABLE",
    "PAYMENT_DECLINED": "PAYMENT_DECLINED",
    "FRAUD_SUSPECTED": "FRAUD_SUSPECTED",
    "RESERVATION_EXPIRED": "PROCESSING_TIMEOUT",
}
DEFAULT_CANCEL_REASON = "PROCESSING_TIMEOUT"
TIMEOUT_REASON = "PROCESSING_TIMEOUT"  # saga deadline passed, or a step ran out of attempts
CUSTOMER_REASON = "CUSTOMER_CANCELLED"
END = "END"  # compensate_from value: every forward step was attempted

STEPS: dict[str, Step] = {**{s.name: s for s in FORWARD}, **COMPENSATIONS}
FORWARD_NAMES: tuple[str, ...] = tuple(s.name for s in FORWARD)


def next_forward(name: str) -> str | None:
    """The forward step after `name`, or None after the last."""
    index = FORWARD_NAMES.index(name)
    return FORWARD_NAMES[index + 1] if index + 1 < len(FORWARD_NAMES) else None


def compensation_plan(compensate_from: str) -> list[str]:
    """Compensations to run when every forward step before `compensate_from` was attempted."""
    stop = len(FORWARD_NAMES) if compensate_from == END else FORWARD_NAMES.index(compensate_from)
    plan = [step.undo for step in reversed(FORWARD[:stop]) if step.undo]
    return [*plan, *CANCEL_TAIL]


def cancel_reason_for(reason: str | None) -> str:
    return CANCEL_REASONS.get(reason or "", DEFAULT_CANCEL_REASON)
