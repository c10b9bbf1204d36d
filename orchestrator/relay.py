"""The outbox relay: unsent outbox rows -> Dramatiq messages, at least once, any number of relays.

Each batch is claimed with FOR UPDATE SKIP LOCKED, published, and marked sent in the same
transaction; a relay that dies between publish and commit leaves its rows unsent (its locks go
with its connection), so another pass sends them again and consumers deduplicate by message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import psycopg
from prometheus_client import Counter, Gauge, Histogram
from psycopg_pool import AsyncConnectionPool

from orchestrator import outbox
from orchestrator.config import RelaySettings
from orchestrator.outbox import OutboxRow
from orchestrator.publisher import DramatiqPublisher
from svckit import logs, runtime
from svckit.db import libpq_url, open_pool
from svckit.metrics import serve_metrics

log = logging.getLogger(__name__)

CHANNEL = "outbox"
BACKLOG = Gauge("outbox_backlog", "Unsent outbox rows.")
OLDEST_AGE = Gauge("outbox_oldest_unsent_age_seconds", "Age of the oldest unsent outbox row.")
PUBLISHED = Counter("outbox_published_total", "Outbox rows published and marked sent.")
ERRORS = Counter("outbox_relay_errors_total", "Relay passes that failed (then backed off).")
LAG = Histogram(
    "outbox_commit_to_publish_seconds", "Outbox row insert to marked sent, after publishing.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAST_LOOP = Gauge("outbox_relay_last_loop_timestamp_seconds", "When the relay loop last ran.")

Publish = Callable[[Sequence[OutboxRow]], Awaitable[None]]


class Relay:
    """One relay: claim a batch, publish it (one Redis round trip), mark it sent."""

    def __init__(self, pool: AsyncConnectionPool, publish: Publish, *, relay_id: str,
                 batch_size: int = 100, poll_interval: float = 1.0,
                 retention: float = 7 * 86400.0, heartbeat_interval: float = 5.0) -> None:
        self.pool = pool
        self.publish = publish
        self.relay_id = relay_id
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self.heartbeat_interval = heartbeat_interval
        self.wake = asyncio.Event()
        self.listening = asyncio.Event()
        self._last_batch: tuple[int, datetime | None] = (0, None)

    async def relay_batch(self) -> int:
        """Rows this call marked sent (0 when nothing was waiting)."""
        async with self.pool.connection() as conn, conn.transaction():
            rows = await outbox.claim(conn, self.batch_size)
            if not rows:
                return 0
            await self.publish(rows)
            lags = await outbox.mark_sent(conn, [row.id for row in rows])
        for lag in lags:
            LAG.observe(lag)
        PUBLISHED.inc(len(lags))
        self._last_batch = (len(lags), datetime.now(UTC))
        return len(lags)

    async def drain(self) -> int:
        """Batches until one comes back short; the rows marked sent."""
        total = 0
        while True:
            sent = await self.relay_batch()
            total += sent
            if sent < self.batch_size:
                return total

    async def housekeeping(self) -> None:
        """Heartbeat, backlog metrics and purge of rows sent before the retention period."""
        async with self.pool.connection() as conn:
            size, at = self._last_batch
            await outbox.heartbeat(conn, self.relay_id, socket.gethostname(), os.getpid(),
                                   size, at)
            backlog = await outbox.backlog(conn)
            purged = await outbox.purge_sent(conn, self.retention)
        BACKLOG.set(backlog.unsent)
        OLDEST_AGE.set(backlog.oldest_age_seconds)
        if purged:
            log.info("sent outbox rows purged", extra={"count": purged})

    async def listen(self, url: str) -> None:
        """Sets `wake` on every NOTIFY outbox; reconnects forever (the poll covers gaps)."""
        backoff = 0.5
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    libpq_url(url), autocommit=True, application_name="outbox-relay-listen"
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    backoff = 0.5
                    self.listening.set()
                    self.wake.set()  # rows may have come while we were not listening
                    async for _ in conn.notifies():
                        self.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the poll keeps rows moving meanwhile
                self.listening.clear()
                log.warning("outbox LISTEN lost", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def run(self, url: str, stop: asyncio.Event) -> None:
        """Until `stop`: drain on NOTIFY or every poll interval; back off while deps are away."""
        listener = asyncio.create_task(self.listen(url))
        backoff = 0.1
        next_housekeeping = 0.0
        try:
            while not stop.is_set():
                self.wake.clear()
                LAST_LOOP.set_to_current_time()
                try:
                    await self.drain()
                    if time.monotonic() >= next_housekeeping:
                        await self.housekeeping()
                        next_housekeeping = time.monotonic() + self.heartbeat_interval
                    backoff = 0.1
                except Exception as exc:  # Redis or PostgreSQL away: keep running
                    ERRORS.inc()
                    log.warning("relay pass failed", extra={"error": str(exc),
                                                            "retry_in": backoff})
                    await _wait_any(stop, None, backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                await _wait_any(stop, self.wake, self.poll_interval)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if backoff > 0.1:
            return  # the database was away at the last pass: do not wait for it to stop
        # A clean stop leaves no heartbeat behind to look like a dead relay.
        with contextlib.suppress(Exception):
            async with self.pool.connection(timeout=2.0) as conn:
                await outbox.forget_heartbeat(conn, self.relay_id)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    waits = [asyncio.create_task(stop.wait())]
    if wake is not None:
        waits.append(asyncio.create_task(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()


async def run_relay(settings: RelaySettings) -> None:
    logs.configure("relay", settings.log_level)
    serve_metrics(settings.metrics_port)
    pool = await open_pool(settings.database_url, name="outbox-relay", max_size=2)
    publisher = DramatiqPublisher(settings.redis_url, settings.queue_name)
    relay = Relay(pool, publisher.publish, relay_id=settings.relay_id,
                  batch_size=settings.batch_size, poll_interval=settings.poll_interval,
                  retention=settings.retention, heartbeat_interval=settings.heartbeat_interval)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("relay started", extra={"relay_id": settings.relay_id,
                                     "queue": settings.queue_name})
    try:
        await relay.run(settings.database_url, stop)
    finally:
        await publisher.close()
        await pool.close()
        log.info("relay stopped")


def main() -> int:
    runtime.run(run_relay(RelaySettings.from_env()))
    return 0
