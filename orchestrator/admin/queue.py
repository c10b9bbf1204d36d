"""Messages the admin CLI puts on the saga queue, through the saga's own broker definitions."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from orchestrator.saga.broker import NAMESPACE, saga_message


def _send(redis_url: str, messages: Sequence[Message[Any]]) -> None:
    broker = RedisBroker(url=redis_url, namespace=NAMESPACE, middleware=[],
                         socket_connect_timeout=3, socket_timeout=5)
    try:
        for message in messages:
            broker.enqueue(message)
    finally:
        broker.close()


async def send(redis_url: str, messages: Sequence[Message[Any]]) -> None:
    """Enqueue (Dramatiq's Redis broker blocks: off the event loop)."""
    if messages:
        await asyncio.to_thread(_send, redis_url, messages)


def advance(order_id: str, event: str) -> Message[Any]:
    """A fresh `advance_saga` message (a new message id, so it is never taken for a duplicate)."""
    return saga_message(order_id, event)


def redrive(stored: dict[str, Any]) -> Message[Any]:
    """The dead-lettered message again, under a new id (the old one may be marked processed)."""
    return Message(queue_name=stored.get("queue_name", "saga"),
                   actor_name=stored.get("actor_name", "advance_saga"),
                   args=tuple(stored.get("args", ())), kwargs=dict(stored.get("kwargs") or {}),
                   options={"redriven_from": stored.get("message_id")})
