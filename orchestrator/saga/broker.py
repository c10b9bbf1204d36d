"""Dramatiq, configured explicitly: the broker, its middleware stack and the `advance_saga` actor.

Settings (all from WorkerSettings, see the README):
- RedisBroker namespace "dramatiq", queue "saga" (the relay publishes there), heartbeat timeout
  DRAMATIQ_HEARTBEAT_TIMEOUT (a dead worker's unacked messages go back to the queue after it),
  maintenance chance DRAMATIQ_MAINTENANCE_CHANCE per million commands (requeues those messages,
  trims the dead-letter queue).
- AgeLimit: a message older than SAGA_MESSAGE_MAX_AGE is dropped (the sweeper covers the saga).
- TimeLimit: one advance may run SAGA_TIME_LIMIT (all steps' calls have their own deadline).
- Retries: an actor exception is retried SAGA_MAX_RETRIES times with exponential backoff between
  SAGA_MIN_BACKOFF and SAGA_MAX_BACKOFF; PoisonMessage is never retried. Saga-level retries are
  NOT these: a transient step failure is a normal return that schedules a delayed message.
- DeadLetters (ours): a message that fails for good is stored in orders.dead_letters, linked to
  its saga, besides Dramatiq's own dead-letter queue (`dramatiq:saga.XQ`).
- AsyncIO: the actor's coroutine runs on one event loop thread (uvloop) per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq import Message
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    CurrentMessage,
    Middleware,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from orchestrator.saga.config import WorkerSettings
from orchestrator.saga.engine import PoisonMessage

log = logging.getLogger(__name__)

QUEUE = "saga"
ACTOR = "advance_saga"
NAMESPACE = "dramatiq"

DeadLetterSink = Callable[[Message[Any], str | None, int], None]  # message, error, attempts


class DeadLetters(Middleware):
    """Stores a message that failed for good (retries exhausted, poison, too old)."""

    def __init__(self, sink: DeadLetterSink) -> None:
        self.sink = sink

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None,
                              exception: BaseException | None = None) -> None:
        if exception is not None and message.failed:
            # Retries counted this delivery unless the error is one the actor `throws`.
            retries = int(message.options.get("retries", 0))
            throws = broker.get_actor(message.actor_name).options.get("throws") or ()
            attempts = retries + 1 if isinstance(exception, throws) else max(retries, 1)
            self.sink(message, f"{type(exception).__name__}: {exception}", attempts)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        if message.failed:
            self.sink(message, "skipped: message age limit exceeded",
                      int(message.options.get("retries", 0)) + 1)


class DuplicateDelivery(Middleware):
    """Test-only (SAGA_TEST_DUPLICATE_DELIVERY): every message is delivered twice, same id."""

    def before_process_message(self, broker: Any, message: Any) -> None:
        if not message.options.get("duplicate_of"):
            broker.enqueue(message.copy(options={"duplicate_of": message.message_id}))


class Lifecycle(Middleware):
    """Runs start/stop coroutines on the AsyncIO loop thread around the worker's life."""

    def __init__(self, start: Callable[[], Any], stop: Callable[[], Any]) -> None:
        self.start = start
        self.stop = stop

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        thread = get_event_loop_thread()
        assert thread is not None, "AsyncIO middleware must come before Lifecycle"
        thread.run_coroutine(self.start())

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(self.stop())


def make_broker(settings: WorkerSettings, *, dead_letters: DeadLetterSink,
                lifecycle: Lifecycle | None = None) -> RedisBroker:
    # Order matters: "after" hooks run in reverse, so DeadLetters sees Retries' verdict, and
    # Lifecycle starts after (and stops before) the AsyncIO loop thread.
    middleware: list[Middleware] = [
        AgeLimit(max_age=settings.max_age_ms),
        TimeLimit(time_limit=settings.time_limit_ms),
        ShutdownNotifications(),
        CurrentMessage(),
        DeadLetters(dead_letters),
        Retries(max_retries=settings.max_retries, min_backoff=settings.min_backoff_ms,
                max_backoff=settings.max_backoff_ms),
        AsyncIO(),
    ]
    if lifecycle is not None:
        middleware.append(lifecycle)
    if settings.duplicate_delivery:
        middleware.insert(0, DuplicateDelivery())
    return RedisBroker(
        url=settings.redis_url, namespace=NAMESPACE, middleware=middleware,
        heartbeat_timeout=settings.heartbeat_timeout_ms,
        maintenance_chance=settings.maintenance_chance,
    )


def declare_actor(broker: RedisBroker, handle: Callable[[str, str], None]
                  ) -> dramatiq.Actor[Any, Any]:
    """`advance_saga(order_id, event=..., outbox_id=...)` on queue "saga" (the relay's contract).

    `handle(order_id, message_id)` runs on the worker thread; the message id (the outbox row id
    for relay messages) is what makes a redelivery a no-op.
    """

    def advance_saga(order_id: str, event: str | None = None, outbox_id: str | None = None
                     ) -> None:
        message = CurrentMessage.get_current_message()
        message_id = message.message_id if message is not None else (outbox_id or "")
        handle(order_id, message_id)

    decorate = dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, broker=broker,
                              throws=(PoisonMessage,))
    return decorate(advance_saga)


def saga_message(order_id: str, event: str) -> Message[Any]:
    """A fresh message for a saga (delayed retry, sweeper, redrive): a new message id."""
    return Message(queue_name=QUEUE, actor_name=ACTOR, args=(order_id,),
                   kwargs={"event": event}, options={})
