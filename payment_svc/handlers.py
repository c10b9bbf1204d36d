"""Use cases of the payment service, each owning its transactions."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from payment_svc import metrics, store
from payment_svc.config import Settings
from payment_svc.domain import (
    CAPTURED_STATUSES,
    ChargeCommand,
    ChargeInFlight,
    CurrencyMismatch,
    FraudSuspected,
    GatewayUnavailable,
    IdempotencyKeyReused,
    InvalidRequest,
    Outcome,
    PaymentDeclined,
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentStatus,
    RefundCommand,
    RefundExceedsCaptured,
    VelocityLimitExceeded,
    charge_violations,
    refund_violations,
    status_after_refund,
)
from payment_svc.simulator import TRANSIENT_MESSAGE, Simulator

log = logging.getLogger(__name__)

Row = store.Row
VELOCITY_WINDOW_SECONDS = 60.0
MAX_ROUNDS = 5  # wait-then-retry rounds of one call before it gives up as transient


@dataclass(frozen=True)
class _Replay:
    payment: Row


@dataclass(frozen=True)
class _Wait:
    attempt_id: int


@dataclass(frozen=True)
class _Limited:
    retry_after: float


@dataclass(frozen=True)
class _Attempt:
    payment: Row
    attempt_id: int
    attempt_no: int
    prior_transients: int


def _parse_uuid(field: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidRequest([(field, "not a UUID")]) from None


def _payment_row(cmd: ChargeCommand) -> Row:
    return {
        "payment_id": uuid.uuid4(),
        "idempotency_key": cmd.idempotency_key,
        "request_hash": cmd.request_hash(),
        "order_id": cmd.order_id,
        "customer_id": cmd.customer_id,
        "currency_code": cmd.amount.currency_code,
        "amount_minor": cmd.amount.amount_minor,
        "payment_method": cmd.payment_method,
        "description": cmd.description,
    }


def _raise_decline(payment: Row) -> None:
    fraud = payment["failure_reason"] == FraudSuspected.reason
    raise (FraudSuspected if fraud else PaymentDeclined)(
        f"payment {payment['payment_id']} was declined ({payment['decline_code']})",
        decline_code=payment["decline_code"] or "",
        payment_id=str(payment["payment_id"]),
    )


class Payments:
    """The payment use cases over one connection pool and one simulator."""

    def __init__(self, pool: AsyncConnectionPool[Any], settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.simulator: Simulator = settings.simulator()
        # Attempts run to completion even when their caller goes away, like a real gateway.
        self._running: set[asyncio.Task[Row]] = set()

    # -- Charge ---------------------------------------------------------------------------

    async def charge(self, cmd: ChargeCommand, *, amount_given: bool = True) -> Row:
        """The captured payment of `cmd`'s key, charging at most once whatever the retries."""
        violations = charge_violations(cmd, amount_given)
        if violations:
            metrics.CHARGES.labels("invalid").inc()
            raise InvalidRequest(violations)
        for _ in range(MAX_ROUNDS):
            step = await self._begin(cmd)
            if isinstance(step, _Replay):
                metrics.CHARGES.labels("replayed").inc()
                if step.payment["status"] == PaymentStatus.DECLINED:
                    _raise_decline(step.payment)
                return await self._load(step.payment["payment_id"])
            if isinstance(step, _Limited):
                metrics.CHARGES.labels("velocity_limited").inc()
                raise VelocityLimitExceeded(
                    f"customer {cmd.customer_id} started too many charges in the last minute",
                    retry_after=step.retry_after,
                )
            if isinstance(step, _Attempt):
                task = asyncio.create_task(self._attempt(step))
                self._running.add(task)
                task.add_done_callback(self._finished)
                return await asyncio.shield(task)
            if await self._await_attempt(step.attempt_id) == Outcome.TRANSIENT:
                # Callers that joined an attempt share its answer, transient failures included.
                raise self._transient(TRANSIENT_MESSAGE)
        raise self._transient("another attempt for this key keeps running")

    def _finished(self, task: asyncio.Task[Row]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here too, for when its caller went away

    async def _begin(self, cmd: ChargeCommand) -> _Replay | _Wait | _Limited | _Attempt:
        """First transaction of a call: find or create the key's payment, start an attempt."""
        async with self.pool.connection() as conn, conn.transaction():
            created = await store.insert_payment_if_new(conn, _payment_row(cmd))
            if created is not None:
                payment, last_no, transients = created, 0, 0
            else:
                found = await self._existing(conn, cmd)
                if not isinstance(found, tuple):
                    return found
                payment, last_no, transients = found
            attempt_no = last_no + 1
            retry_after = await self._velocity_check(conn, payment)
            if retry_after is not None:
                await store.insert_attempt(
                    conn, payment, attempt_no, Outcome.VELOCITY_LIMITED, "RESOURCE_EXHAUSTED"
                )
                return _Limited(retry_after)
            attempt_id = await store.insert_attempt(
                conn, payment, attempt_no, Outcome.IN_FLIGHT, None
            )
            return _Attempt(payment, attempt_id, attempt_no, transients)

    async def _existing(
        self, conn: Any, cmd: ChargeCommand
    ) -> _Replay | _Wait | tuple[Row, int, int]:
        """The key's payment locked: its replay, an attempt to wait for, or where to go on."""
        payment = await store.lock_payment_by_key(conn, cmd.idempotency_key)
        if payment["request_hash"] != cmd.request_hash():
            metrics.CHARGES.labels("idempotency_key_reused").inc()
            raise IdempotencyKeyReused(
                f"idempotency key {cmd.idempotency_key!r} was used with other parameters"
            )
        if payment["status"] != PaymentStatus.PENDING:
            return _Replay(payment)
        lease = self.settings.attempt_lease_seconds
        summary = await store.attempt_summary(conn, payment["payment_id"], lease)
        if summary["in_flight_id"] is not None:
            if not summary["in_flight_stale"]:
                return _Wait(int(summary["in_flight_id"]))
            # Its process died mid-attempt: nothing was captured, so try again.
            await store.abandon_attempt(conn, int(summary["in_flight_id"]))
        return payment, int(summary["last_no"]), int(summary["transients"])

    async def _velocity_check(self, conn: Any, payment: Row) -> float | None:
        """Seconds to wait when this key would be one distinct key too many this minute."""
        limit = self.settings.velocity_limit_per_minute
        if limit <= 0:
            return None
        await store.lock_customer(conn, payment["customer_id"])
        window = await store.velocity_window(conn, payment["customer_id"], VELOCITY_WINDOW_SECONDS)
        keys = {row["idempotency_key"] for row in window}
        # Retries of a key already counted are free: the saga's retries never eat the budget.
        if payment["idempotency_key"] in keys or len(keys) < limit:
            return None
        return max(0.1, min(float(row["seconds_left"]) for row in window))

    async def _attempt(self, step: _Attempt) -> Row:
        payment = step.payment
        decision = self.simulator.decide(
            key=payment["idempotency_key"],
            attempt_no=step.attempt_no,
            payment_method=payment["payment_method"],
            amount_minor=payment["amount_minor"],
            prior_transients=step.prior_transients,
        )
        if decision.latency_seconds > 0:
            await asyncio.sleep(decision.latency_seconds)  # never blocks the other calls
        metrics.GATEWAY_SECONDS.observe(decision.latency_seconds)
        outcome = decision.outcome
        error_code = {
            Outcome.DECLINED: PaymentDeclined.reason,
            Outcome.FRAUD_SUSPECTED: FraudSuspected.reason,
            Outcome.TRANSIENT: "UNAVAILABLE",
        }.get(outcome)
        async with self.pool.connection() as conn:
            final = await store.settle_attempt(
                conn,
                step.attempt_id,
                outcome,
                error_code,
                decision.decline_code or None,
                round(decision.latency_seconds * 1000),
            )
        if final is None:
            raise self._transient("the attempt outlived its lease; retry")
        log.info(
            "charge attempt",
            extra={
                "payment_id": str(payment["payment_id"]),
                "attempt_no": step.attempt_no,
                "outcome": str(outcome),
                "decline_code": decision.decline_code,
            },
        )
        metrics.CHARGES.labels(str(outcome).lower()).inc()
        if outcome == Outcome.TRANSIENT:
            raise self._transient(decision.message)
        if outcome != Outcome.SUCCEEDED:
            _raise_decline(final)
        return final

    async def _await_attempt(self, attempt_id: int) -> str:
        """The outcome of another call's attempt, once it has one (or its lease ran out)."""
        delay = 0.005
        while True:
            async with self.pool.connection() as conn:
                row = await store.attempt_outcome(
                    conn, attempt_id, self.settings.attempt_lease_seconds
                )
            if row["outcome"] != Outcome.IN_FLIGHT or row["stale"]:
                return str(row["outcome"])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _transient(self, message: str) -> GatewayUnavailable:
        return GatewayUnavailable(
            f"{message}; nothing was charged, retry with the same idempotency key",
            retry_after=self.settings.transient_retry_after_seconds,
        )

    # -- Refund ---------------------------------------------------------------------------

    async def refund(self, cmd: RefundCommand) -> tuple[Row, Row]:
        """The refund of `cmd`'s key and the payment after it; cumulative refunds never exceed
        the captured amount."""
        violations = refund_violations(cmd)
        if violations:
            metrics.REFUNDS.labels("invalid").inc()
            raise InvalidRequest(violations)
        payment_id = _parse_uuid("payment_id", cmd.payment_id)
        request_hash = cmd.request_hash()
        outcome = "replayed"
        try:
            async with self.pool.connection() as conn, conn.transaction():
                existing = await store.get_refund_by_key(conn, cmd.idempotency_key)
                if existing is None:
                    payment = await store.lock_payment(conn, str(payment_id))
                    if payment is None:
                        raise PaymentNotFound(f"no payment {payment_id}")
                    # A call with the same key may have committed while we waited for the lock.
                    existing = await store.get_refund_by_key(conn, cmd.idempotency_key)
                    if existing is None:
                        existing = await self._new_refund(conn, cmd, payment, request_hash)
                        outcome = "succeeded"
                if outcome != "succeeded" and existing["request_hash"] != request_hash:
                    raise IdempotencyKeyReused(
                        f"idempotency key {cmd.idempotency_key!r} was used for another refund"
                    )
                refund = existing
                current = await store.get_payment(conn, refund["payment_id"])
        except IdempotencyKeyReused:
            metrics.REFUNDS.labels("idempotency_key_reused").inc()
            raise
        except (PaymentNotFound, PaymentNotRefundable, RefundExceedsCaptured, CurrencyMismatch):
            metrics.REFUNDS.labels("rejected").inc()
            raise
        except ChargeInFlight:
            metrics.REFUNDS.labels("charge_in_flight").inc()
            raise
        metrics.REFUNDS.labels(outcome).inc()
        assert current is not None
        return refund, current

    async def _new_refund(
        self, conn: Any, cmd: RefundCommand, payment: Row, request_hash: str
    ) -> Row:
        if payment["status"] == PaymentStatus.PENDING:
            summary = await store.attempt_summary(
                conn, payment["payment_id"], self.settings.attempt_lease_seconds
            )
            if summary["in_flight_id"] is not None and not summary["in_flight_stale"]:
                # It may still capture: the caller must come back once it has settled.
                raise ChargeInFlight(
                    f"payment {payment['payment_id']} has a charge attempt in flight; retry",
                    retry_after=self.settings.transient_retry_after_seconds,
                )
        if payment["status"] not in CAPTURED_STATUSES:
            raise PaymentNotRefundable(
                f"payment {payment['payment_id']} is {payment['status']}: nothing was captured"
            )
        remaining = int(payment["captured_minor"]) - int(payment["refunded_minor"])
        if cmd.amount is not None and cmd.amount.currency_code != payment["currency_code"]:
            raise CurrencyMismatch(
                f"payment is in {payment['currency_code']}, refund in {cmd.amount.currency_code}"
            )
        amount = cmd.amount.amount_minor if cmd.amount is not None else remaining
        if remaining <= 0 or amount > remaining:
            raise RefundExceedsCaptured(
                f"refund of {amount} exceeds the {remaining} (minor units) still refundable"
            )
        refund = await store.insert_refund(
            conn,
            {
                "refund_id": uuid.uuid4(),
                "payment_id": payment["payment_id"],
                "idempotency_key": cmd.idempotency_key,
                "request_hash": request_hash,
                "currency_code": payment["currency_code"],
                "amount_minor": amount,
                "reason": cmd.reason,
                "actor": cmd.actor,
            },
        )
        if refund is None:
            # The key was just used for a refund of another payment.
            raise IdempotencyKeyReused(
                f"idempotency key {cmd.idempotency_key!r} was used for another refund"
            )
        refunded = int(payment["refunded_minor"]) + amount
        await store.add_refunded(
            conn,
            payment["payment_id"],
            refunded,
            status_after_refund(int(payment["captured_minor"]), refunded),
        )
        return refund

    # -- Reads ----------------------------------------------------------------------------

    async def _load(self, payment_id: Any) -> Row:
        async with self.pool.connection() as conn:
            row = await store.get_payment(conn, payment_id)
        assert row is not None
        return row

    async def get(self, payment_id: str, viewer: str | None) -> tuple[Row, list[Row]]:
        """A payment and its refunds; `viewer` set means only that customer's payment is found."""
        if not payment_id:
            raise InvalidRequest([("payment_id", "required")])
        pid = _parse_uuid("payment_id", payment_id)
        async with self.pool.connection() as conn:
            row = await store.get_payment(conn, str(pid))
            if row is None or (viewer is not None and row["customer_id"] != viewer):
                raise PaymentNotFound(f"no payment {payment_id}")
            refunds = await store.list_refunds(conn, pid)
        return row, refunds

    async def list_for_order(self, order_id: str, viewer: str | None) -> list[Row]:
        if not order_id.strip():
            raise InvalidRequest([("order_id", "required")])
        async with self.pool.connection() as conn:
            return await store.list_payments(conn, order_id, viewer)
