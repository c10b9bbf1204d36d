"""Outbox rows as Dramatiq messages on Redis: one pipelined round trip per batch.

Dramatiq has no batch enqueue. Each message goes through Dramatiq's own `dispatch` Lua script
with the "enqueue" command, exactly as `RedisBroker.enqueue` sends it, but the calls of a batch
share one Redis pipeline. Broker middleware `before/after_enqueue` hooks are not run: the relay
has no actors and no enqueue-side middleware.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from orchestrator.outbox import OutboxRow

ACTOR_NAME = "advance_saga"


def message_for(row: OutboxRow, queue_name: str) -> Message[Any]:
    """advance_saga(order_id, event=..., outbox_id=...); the row id is the message id."""
    return Message(
        queue_name=queue_name,
        actor_name=ACTOR_NAME,
        args=(str(row.aggregate_id),),
        kwargs={"event": row.event_type, "outbox_id": str(row.id)},
        # Redis needs a fresh slot id per enqueue (a re-send must not clobber the first one);
        # consumers deduplicate by message_id.
        options={"redis_message_id": str(uuid.uuid4())},
        message_id=str(row.id),
    )


class DramatiqPublisher:
    """Blocking publisher (redis-py): the relay calls it from a worker thread."""

    def __init__(self, redis_url: str, queue_name: str = "saga", *,
                 namespace: str = "dramatiq") -> None:
        self.broker = RedisBroker(url=redis_url, namespace=namespace, middleware=[])  # type: ignore[no-untyped-call]
        self.queue_name = queue_name

    def publish(self, rows: Sequence[OutboxRow]) -> None:
        broker = self.broker
        dispatch = broker.scripts["dispatch"]
        unpack = broker._max_unpack_size()  # type: ignore[no-untyped-call]
        pipe = broker.client.pipeline(transaction=False)
        for row in rows:
            message = message_for(row, self.queue_name)
            now_ms = int(message.message_timestamp)
            dispatch(
                keys=[broker.namespace],
                args=["enqueue", now_ms, self.queue_name, broker.broker_id,
                      broker.heartbeat_timeout, broker.dead_message_ttl, 0, unpack,
                      message.options["redis_message_id"], message.encode()],
                client=pipe,
            )
        pipe.execute()

    def publish_one_by_one(self, rows: Sequence[OutboxRow]) -> None:
        """Plain `broker.enqueue` per row: the reference the pipelined path is measured against."""
        for row in rows:
            self.broker.enqueue(message_for(row, self.queue_name))

    def close(self) -> None:
        self.broker.close()
