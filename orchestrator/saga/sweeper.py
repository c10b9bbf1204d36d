"""The sweeper: re-enqueues active sagas nobody is driving (lost message, flushed Redis, dead
worker), judged by PostgreSQL's clock; also mirrors breaker state into metrics and purges old
processed-message ids. Runs in every worker process; any number may run at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from orchestrator.saga import breaker, metrics, store

log = logging.getLogger(__name__)

MESSAGE_RETENTION = 7 * 86400.0  # processed ids older than Dramatiq's longest delay + age limit


class Sweeper:
    def __init__(self, pool: AsyncConnectionPool, redis: Redis,
                 send: Callable[[list[str]], Awaitable[None]], *, interval: float,
                 grace: float, batch: int) -> None:
        self.pool = pool
        self.redis = redis
        self.send = send
        self.interval = interval
        self.grace = grace
        self.batch = batch
        self._rounds = 0

    async def sweep_once(self) -> int:
        """Re-enqueue one batch of overdue sagas; the number sent."""
        order_ids = await store.overdue_sagas(self.pool, self.grace, self.batch)
        if order_ids:
            await self.send(order_ids)
            metrics.SWEPT.inc(len(order_ids))
            log.info("sweeper re-enqueued overdue sagas", extra={"count": len(order_ids)})
        return len(order_ids)

    async def run(self) -> None:
        while True:
            try:
                await self.sweep_once()
                await breaker.refresh_metrics(self.redis)
                metrics.LAST_SWEEP.set_to_current_time()
                self._rounds += 1
                if self._rounds % 720 == 1:
                    await store.purge_messages(self.pool, MESSAGE_RETENTION)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("sweep failed; retrying next round", exc_info=True)
            await asyncio.sleep(self.interval)
