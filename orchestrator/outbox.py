"""Outbox SQL for relays and operators: claim, mark sent, backlog, purge, heartbeats."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import tuple_row


@dataclass(frozen=True)
class OutboxRow:
    id: uuid.UUID
    aggregate_id: uuid.UUID
    event_type: str
    created_at: datetime


@dataclass(frozen=True)
class Backlog:
    unsent: int
    oldest_age_seconds: float


async def claim(conn: AsyncConnection[Any], limit: int) -> list[OutboxRow]:
    """Locks up to `limit` unsent rows, oldest first, skipping rows other relays hold.

    No "last id" cursor: a writer whose transaction commits late still has an unsent row,
    and every scan sees it.
    """
    cur = await conn.execute(
        "SELECT id, aggregate_id, event_type, created_at FROM orders.outbox"
        " WHERE sent_at IS NULL ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED",
        (limit,),
    )
    return [OutboxRow(r["id"], r["aggregate_id"], r["event_type"], r["created_at"])
            for r in await cur.fetchall()]


async def mark_sent(conn: AsyncConnection[Any], ids: Sequence[uuid.UUID]) -> list[float]:
    """Marks rows sent; the commit-to-publish seconds of each row this call marked."""
    cur = conn.cursor(row_factory=tuple_row)
    await cur.execute(
        "UPDATE orders.outbox SET sent_at = clock_timestamp()"
        " WHERE id = ANY(%s) AND sent_at IS NULL"
        " RETURNING extract(epoch FROM sent_at - created_at)::float8",
        (list(ids),),
    )
    return [lag for (lag,) in await cur.fetchall()]


async def backlog(conn: AsyncConnection[Any]) -> Backlog:
    cur = await conn.execute(
        "SELECT count(*) AS unsent,"
        " coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)::float8 AS oldest"
        " FROM orders.outbox WHERE sent_at IS NULL"
    )
    row = await cur.fetchone()
    assert row is not None
    return Backlog(row["unsent"], row["oldest"])


async def purge_sent(conn: AsyncConnection[Any], older_than_seconds: float,
                     limit: int = 5000) -> int:
    """Deletes up to `limit` rows sent before the retention period (short transactions)."""
    cur = await conn.execute(
        "DELETE FROM orders.outbox WHERE id IN (SELECT id FROM orders.outbox"
        " WHERE sent_at < now() - %s * interval '1 second' LIMIT %s)",
        (older_than_seconds, limit),
    )
    return cur.rowcount


async def heartbeat(conn: AsyncConnection[Any], relay_id: str, host: str, pid: int,
                    last_batch_size: int, last_batch_at: datetime | None) -> None:
    await conn.execute(
        "INSERT INTO orders.relay_heartbeats"
        " (relay_id, host, pid, last_seen_at, last_batch_size, last_batch_at)"
        " VALUES (%s, %s, %s, now(), %s, %s)"
        " ON CONFLICT (relay_id) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
        " last_seen_at = excluded.last_seen_at, last_batch_size = excluded.last_batch_size,"
        " last_batch_at = coalesce(excluded.last_batch_at, relay_heartbeats.last_batch_at)",
        (relay_id, host, pid, last_batch_size, last_batch_at),
    )


async def forget_heartbeat(conn: AsyncConnection[Any], relay_id: str) -> None:
    await conn.execute("DELETE FROM orders.relay_heartbeats WHERE relay_id = %s", (relay_id,))


async def heartbeats(conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT relay_id, host, pid, last_seen_at, last_batch_size, last_batch_at,"
        " extract(epoch FROM now() - last_seen_at)::float8 AS age_seconds"
        " FROM orders.relay_heartbeats ORDER BY last_seen_at DESC"
    )
    return list(await cur.fetchall())
