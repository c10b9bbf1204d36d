"""Use cases: Send (render, record, deliver each pending channel once) and ListNotifications."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from notify_svc import store
from notify_svc.config import RetryPolicy
from notify_svc.domain import (
    AttemptOutcome,
    AttemptResult,
    Channel,
    Delivery,
    DeliveryInProgress,
    DeliveryPending,
    IdempotencyKeyReused,
    InvalidRequest,
    Notification,
    NotificationsNotFound,
    SendCommand,
    validate,
)
from notify_svc.metrics import DELIVERY_ATTEMPTS, DELIVERY_SECONDS, SENDS
from notify_svc.rendering import Renderer

log = logging.getLogger(__name__)


class Deliverer(Protocol):
    async def deliver(self, n: Notification) -> AttemptResult: ...


@dataclass
class Deps:
    pool: AsyncConnectionPool
    renderer: Renderer
    channels: Mapping[Channel, Deliverer]
    policies: Mapping[Channel, RetryPolicy]
    retry_after: float
    lease: float
    in_progress_wait: float
    poll_interval: float = 0.05


@dataclass(frozen=True)
class SendOutcome:
    notification: Notification
    replayed: bool


async def send(
    deps: Deps, command: SendCommand, *, wait_budget: float | None = None
) -> SendOutcome:
    """Delivers the key's pending channels exactly once across concurrent and repeated calls.

    The notification row is inserted once (unique key); the call that takes its delivery lease
    delivers, the others wait for it (bounded) and answer with the outcome.
    """
    validate(command)
    rendered = deps.renderer.render(command.template, command.locale, command.context())
    n, _ = await store.create_or_get(deps.pool, command, rendered)
    if n.fingerprint != command.fingerprint():
        raise IdempotencyKeyReused(
            f"idempotency key {command.idempotency_key!r} was used for a different notification"
        )
    budget = deps.in_progress_wait
    if wait_budget is not None:
        budget = min(wait_budget, budget)
    deadline = time.monotonic() + budget
    owner = uuid.uuid4().hex
    pause = deps.poll_interval
    while True:
        if n.settled:
            SENDS.labels("replayed").inc()
            return SendOutcome(n, replayed=True)
        if await store.claim(deps.pool, n.notification_id, owner, deps.lease):
            break
        if time.monotonic() >= deadline:
            raise DeliveryInProgress("another call is delivering this notification; retry later")
        await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        pause = min(pause * 2, 0.5)
        n = await _reload(deps, n)
    # Shielded: a caller that gives up (deadline) does not abort a delivery half-way; the task
    # finishes, records its attempts and releases the lease on its own.
    task = asyncio.create_task(_deliver_owned(deps, n.notification_id, owner))
    task.add_done_callback(_log_orphan_failure)
    retry_after = await asyncio.shield(task)
    n = await _reload(deps, n)
    if not n.settled:
        SENDS.labels("pending").inc()
        channels = ", ".join(d.channel for d in n.pending())
        raise DeliveryPending(
            f"delivery still failing on {channels}; retry later with the same key",
            retry_after if retry_after is not None else deps.retry_after,
        )
    SENDS.labels("delivered").inc()
    return SendOutcome(n, replayed=False)


def _log_orphan_failure(task: asyncio.Task[float | None]) -> None:
    """Logs a delivery that failed after its caller had gone (nobody else would see it)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("delivery failed", exc_info=task.exception())


async def _reload(deps: Deps, n: Notification) -> Notification:
    fresh = await store.get(deps.pool, n.notification_id)
    assert fresh is not None  # notifications are never deleted
    return fresh


async def _deliver_owned(deps: Deps, notification_id: str, owner: str) -> float | None:
    """Delivers every pending channel concurrently under the lease; the longest retry hint."""
    try:
        n = await store.get(deps.pool, notification_id)
        assert n is not None
        results = await asyncio.gather(
            *(_deliver_channel(deps, n, d) for d in n.pending()), return_exceptions=True
        )
    finally:
        await store.release(deps.pool, notification_id, owner)
    hints: list[float] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        if result is not None:
            hints.append(result)
    return max(hints) if hints else None


async def _deliver_channel(deps: Deps, n: Notification, delivery: Delivery) -> float | None:
    """Attempts one channel up to its policy, recording each attempt; a retry hint if pending."""
    channel = delivery.channel
    policy = deps.policies[channel]
    sender = deps.channels[channel]
    number = delivery.attempt_count
    result: AttemptResult | None = None
    for retry in range(policy.max_attempts):
        number += 1
        started = time.perf_counter()
        try:
            result = await sender.deliver(n)
        except Exception as exc:
            log.exception("delivery raised", extra={"channel": channel})
            result = AttemptResult.transient(f"unexpected error: {type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started
        await store.record_attempt(
            deps.pool, n.notification_id, channel, number, result, int(elapsed * 1000)
        )
        DELIVERY_ATTEMPTS.labels(channel, result.outcome).inc()
        DELIVERY_SECONDS.labels(channel).observe(elapsed)
        log.info(
            "delivery attempt",
            extra={"notification_id": n.notification_id, "channel": channel, "attempt": number,
                   "outcome": result.outcome, "error": result.error or None},
        )
        if result.outcome is not AttemptOutcome.TRANSIENT_ERROR or not result.retry_now:
            break
        if retry + 1 < policy.max_attempts:
            await asyncio.sleep(policy.delay(retry))
    if result is not None and result.outcome is AttemptOutcome.TRANSIENT_ERROR:
        return result.retry_after
    return None


async def list_notifications(
    deps: Deps, order_id: str, *, customer_id: str | None
) -> list[Notification]:
    """The order's notifications; a customer sees only theirs, and none is NOT_FOUND."""
    if not order_id.strip():
        raise InvalidRequest([("order_id", "is required")])
    found = await store.list_for_order(deps.pool, order_id, customer_id)
    if customer_id is not None and not found:
        raise NotificationsNotFound(f"order {order_id} has no notifications for you")
    return found
