"""Outbox rows as Dramatiq messages on Redis: one pipelined round trip per batch.

Dramatiq has no batch enqueue. Each message goes through Dramatiq's own `dispatch` Lua script
with the "enqueue" command, with the arguments `RedisBroker.enqueue` gives it, but the calls of a
batch share one pipeline on an asyncio Redis client (no thread hop, no SCRIPT EXISTS per batch).
Broker middleware `before/after_enqueue` hooks are not run: the relay has no actors and no
enqueue-side middleware.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import NoScriptError

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
    """Publishes batches through Dramatiq's dispatch script, pipelined."""

    def __init__(self, redis_url: str, queue_name: str = "saga", *,
                 namespace: str = "dramatiq") -> None:
        self.broker = RedisBroker(url=redis_url, namespace=namespace, middleware=[])
        self.queue_name = queue_name
        self.client = redis.asyncio.Redis.from_url(redis_url)
        self._script = self.broker.scripts["dispatch"]

    def _args(self, message: Message[Any]) -> list[Any]:
        broker = self.broker
        return [
            "enqueue", message.message_timestamp, self.queue_name, broker.broker_id,
            broker.heartbeat_timeout, broker.dead_message_ttl,
            0,  # no maintenance from the relay
            0,  # max unpack size: read only by maintenance and batch commands
            message.options["redis_message_id"], message.encode(),
        ]

    async def publish(self, rows: Sequence[OutboxRow]) -> None:
        calls = [self._args(message_for(row, self.queue_name)) for row in rows]
        try:
            await self._send(calls)
        except NoScriptError:
            # Redis restarted (scripts are not persisted): load it and send the batch again.
            await self.client.script_load(self._script.script)
            await self._send(calls)

    async def _send(self, calls: list[list[Any]]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for args in calls:
                pipe.evalsha(self._script.sha, 1, self.broker.namespace, *args)
            await pipe.execute()

    def publish_one_by_one(self, rows: Sequence[OutboxRow]) -> None:
        """Plain blocking `broker.enqueue` per row: the reference the pipeline is measured by."""
        for row in rows:
            self.broker.enqueue(message_for(row, self.queue_name))

    async def close(self) -> None:
        await self.client.aclose()
        self.broker.close()
