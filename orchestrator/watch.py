"""WatchOrder's fan-out: one LISTEN connection per process wakes every watcher of an order.

Watchers hold an asyncio queue, not a thread or a connection. A notification (or the poll that
covers lost notifications and LISTEN reconnects) makes the feed read the watched orders' statuses
in one query and hand each snapshot to that order's queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import psycopg
from psycopg_pool import AsyncConnectionPool

from orchestrator import store
from orchestrator.domain import StatusSnapshot
from svckit.db import libpq_url

log = logging.getLogger(__name__)

CHANNEL = "order_status"


class StatusFeed:
    """Shared LISTEN order_status connection with a poll fallback every `poll_interval`."""

    def __init__(self, pool: AsyncConnectionPool, url: str, *, poll_interval: float = 1.0) -> None:
        self._pool = pool
        self._url = libpq_url(url)
        self._poll_interval = poll_interval
        self._watchers: dict[str, set[asyncio.Queue[StatusSnapshot]]] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def watching(self) -> int:
        return sum(len(queues) for queues in self._watchers.values())

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._listen()),
                           asyncio.create_task(self._refresh())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    @contextlib.asynccontextmanager
    async def subscribe(self, order_id: str) -> AsyncIterator[asyncio.Queue[StatusSnapshot]]:
        """A queue receiving snapshots of the order whenever it may have changed."""
        self.start()
        queue: asyncio.Queue[StatusSnapshot] = asyncio.Queue()
        self._watchers.setdefault(order_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._watchers.get(order_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._watchers[order_id]

    def _mark(self, order_ids: set[str]) -> None:
        self._dirty |= order_ids
        self._wake.set()

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, application_name="orders-watch"
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    # Anything that changed while we were not listening is caught up now.
                    self._mark(set(self._watchers))
                    backoff = 0.5
                    async for note in conn.notifies():
                        if note.payload in self._watchers:
                            self._mark({note.payload})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect; the poll covers the gap
                log.warning("order status LISTEN lost", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _refresh(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()
            ids = self._dirty if self._dirty else set(self._watchers)
            self._dirty = set()
            ids &= set(self._watchers)
            if not ids:
                continue
            try:
                async with self._pool.connection() as conn:
                    found = await store.status_snapshots(conn, [uuid.UUID(i) for i in ids])
            except Exception as exc:  # next poll retries
                log.warning("order status refresh failed", extra={"error": str(exc)})
                continue
            for _, snapshot in found:
                for queue in self._watchers.get(snapshot.order_id, ()):
                    queue.put_nowait(snapshot)
