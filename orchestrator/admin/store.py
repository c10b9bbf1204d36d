"""The admin audit table and the SQL the admin CLI runs (reads and guarded repairs).

Every repair is one transaction: an UPDATE guarded by the version read before and by a free
lease (no worker is advancing the saga), the order status when it changes, and the audit row.
Repairs also drop the lease token, so a worker whose lease ran out cannot write over them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, Column, DateTime, Index, Table, Text, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB

import orchestrator.saga.store  # noqa: F401  (the saga columns and tables on the metadata)
from orchestrator.store import metadata
from svckit.db import libpq_url

admin_audit = Table(
    "admin_audit",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("actor", Text, nullable=False),
    Column("verb", Text, nullable=False),  # e.g. "sagas retry", "dlq redrive", "breakers reset"
    Column("target", Text, nullable=False),  # saga id, dead letter id or breaker name
    Column("order_id", Uuid),
    Column("reason", Text),
    Column("before_status", Text),
    Column("after_status", Text),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("admin_audit_at", "at"),
    Index("admin_audit_order", "order_id"),
)

Conn = AsyncConnection[dict[str, Any]]
ACTIVE = ("RUNNING", "COMPENSATING")
TERMINAL = ("COMPLETED", "COMPENSATED", "FAILED")


async def connect(url: str, timeout: float = 5.0) -> Conn:
    return await AsyncConnection.connect(libpq_url(url), autocommit=True, row_factory=dict_row,
                                         connect_timeout=max(int(timeout), 1))


# --- sagas: reads ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SagaFilter:
    """The list filters, shared by `sagas list` and the bulk repair forms."""

    status: list[str] | None = None
    stuck: bool = False
    stuck_grace: float = 30.0
    older_than: float | None = None
    order_id: str | None = None
    limit: int = 50

    def empty(self) -> bool:
        return not (self.status or self.stuck or self.older_than is not None or self.order_id)


_SAGA_COLUMNS = """
  s.saga_id, s.order_id, s.status, s.current_step, s.attempt, s.paused, s.cancel_requested,
  s.cancel_reason, s.compensate_from, s.compensation_reason, s.last_error, s.version,
  s.next_attempt_at, s.deadline_at, s.created_at, s.updated_at, s.lease_until,
  (s.lease_until IS NOT NULL AND s.lease_until > now()) AS leased,
  extract(epoch FROM now() - s.created_at)::float8 AS age_s,
  extract(epoch FROM s.next_attempt_at - now())::float8 AS next_in_s,
  (s.status IN ('RUNNING', 'COMPENSATING') AND s.deadline_at <= now()) AS past_deadline,
  o.status AS order_status, o.cancel_reason AS order_cancel_reason"""

_STUCK = """(s.status IN ('RUNNING', 'COMPENSATING') AND (s.deadline_at <= now()
   OR (coalesce(s.next_attempt_at, s.updated_at) <= now() - %(grace)s * interval '1 second'
       AND (s.lease_until IS NULL OR s.lease_until < now()))))"""


async def list_sagas(conn: Conn, f: SagaFilter) -> list[dict[str, Any]]:
    where: list[str] = ["true"]
    params: dict[str, Any] = {"grace": f.stuck_grace, "limit": f.limit}
    if f.status:
        where.append("s.status = ANY(%(status)s)")
        params["status"] = [s.upper() for s in f.status]
    if f.stuck:
        where.append(_STUCK)
    if f.older_than is not None:
        where.append("s.created_at <= now() - %(older)s * interval '1 second'")
        params["older"] = f.older_than
    if f.order_id:
        where.append("s.order_id = %(order)s")
        params["order"] = f.order_id
    cur = await conn.execute(
        f"SELECT {_SAGA_COLUMNS} FROM orders.sagas s JOIN orders.orders o USING (order_id)"
        f" WHERE {' AND '.join(where)} ORDER BY s.created_at DESC LIMIT %(limit)s", params)
    return await cur.fetchall()


async def find_saga(conn: Conn, ident: str) -> dict[str, Any] | None:
    """The saga by order id or saga id."""
    try:
        key = uuid.UUID(ident)
    except ValueError:
        return None
    cur = await conn.execute(
        f"SELECT {_SAGA_COLUMNS} FROM orders.sagas s JOIN orders.orders o USING (order_id)"
        " WHERE s.order_id = %s OR s.saga_id = %s", (key, key))
    return await cur.fetchone()


async def saga_steps(conn: Conn, saga_id: uuid.UUID) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT step, direction, attempt, outcome, error, started_at, finished_at, duration_ms"
        " FROM orders.saga_steps WHERE saga_id = %s ORDER BY id", (saga_id,))
    return await cur.fetchall()


async def find_order(conn: Conn, ident: str) -> dict[str, Any] | None:
    try:
        key = uuid.UUID(ident)
    except ValueError:
        return None
    cur = await conn.execute(
        "SELECT o.*, s.saga_id, s.status AS saga_status, s.current_step, s.paused"
        " FROM orders.orders o LEFT JOIN orders.sagas s USING (order_id)"
        " WHERE o.order_id = %s OR s.saga_id = %s", (key, key))
    return await cur.fetchone()


async def order_items(conn: Conn, order_id: uuid.UUID) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT product_id, sku, name, unit_price_minor, quantity, line_total_minor"
        " FROM orders.order_items WHERE order_id = %s ORDER BY sku", (order_id,))
    return await cur.fetchall()


async def audit_of(conn: Conn, order_id: uuid.UUID) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT at, actor, verb, target, reason, before_status, after_status, details"
        " FROM orders.admin_audit WHERE order_id = %s ORDER BY id", (order_id,))
    return await cur.fetchall()


# --- sagas: guarded repairs -----------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """A repair's new saga columns (None: unchanged) and the order status to set."""

    status: str | None = None
    attempt_reset: bool = False
    run_now: bool = False  # next_attempt_at = now()
    clear_next: bool = False  # next_attempt_at = NULL
    paused: bool | None = None
    cancel_reason: str | None = None  # sets cancel_requested too
    last_error: str | None = None
    order_status: str | None = None


async def apply_change(conn: Conn, saga: dict[str, Any], change: Change, *, actor: str,
                       verb: str, reason: str | None) -> dict[str, Any] | None:
    """One guarded update plus its audit row; None when the saga moved since it was read."""
    async with conn.transaction():
        cur = await conn.execute(
            """
            UPDATE orders.sagas s SET
              status = coalesce(%(status)s, s.status),
              attempt = CASE WHEN %(reset)s THEN 0 ELSE s.attempt END,
              next_attempt_at = CASE WHEN %(now)s THEN now() WHEN %(clear)s THEN NULL
                                     ELSE s.next_attempt_at END,
              paused = coalesce(%(paused)s, s.paused),
              cancel_requested = s.cancel_requested OR %(cancel)s::text IS NOT NULL,
              cancel_reason = coalesce(%(cancel)s, s.cancel_reason),
              last_error = coalesce(%(error)s, s.last_error),
              lease_token = NULL, lease_until = NULL,
              version = s.version + 1, updated_at = now()
             WHERE s.saga_id = %(saga_id)s AND s.version = %(version)s AND s.status = %(before)s
               AND (s.lease_until IS NULL OR s.lease_until < now())
            RETURNING s.status, s.version""",
            {"status": change.status, "reset": change.attempt_reset, "now": change.run_now,
             "clear": change.clear_next, "paused": change.paused, "cancel": change.cancel_reason,
             "error": change.last_error, "saga_id": saga["saga_id"],
             "version": saga["version"], "before": saga["status"]})
        row = await cur.fetchone()
        if row is None:
            raise _Moved
        if change.order_status:
            await conn.execute(
                "UPDATE orders.orders SET status = %s, updated_at = now(), version = version + 1"
                " WHERE order_id = %s AND status IS DISTINCT FROM %s",
                (change.order_status, saga["order_id"], change.order_status))
        await record(conn, actor=actor, verb=verb, target=str(saga["saga_id"]),
                     order_id=saga["order_id"], reason=reason, before=_label(saga),
                     after=_label({**saga, "status": row["status"],
                                   "paused": saga["paused"] if change.paused is None
                                   else change.paused}),
                     details={"step": saga["current_step"], "attempt": saga["attempt"]})
    return row


class _Moved(Exception):
    """Raised inside a repair's transaction when its guard matched nothing (rolls it back)."""


async def try_change(conn: Conn, saga: dict[str, Any], change: Change, **audit: Any
                     ) -> dict[str, Any] | None:
    try:
        return await apply_change(conn, saga, change, **audit)
    except _Moved:
        return None


def _label(saga: dict[str, Any]) -> str:
    return f"{saga['status']} (paused)" if saga.get("paused") else str(saga["status"])


async def record(conn: Conn, *, actor: str, verb: str, target: str,
                 order_id: uuid.UUID | str | None, reason: str | None, before: str | None,
                 after: str | None, details: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO orders.admin_audit (actor, verb, target, order_id, reason, before_status,"
        " after_status, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (actor, verb, target, order_id, reason, before, after, Jsonb(details or {})))


# --- dead letters ---------------------------------------------------------------------------

_DLQ_COLUMNS = """d.id, d.message_id, d.saga_id, d.order_id, d.queue_name, d.actor_name,
  d.error, d.attempts, d.created_at, d.redriven_at, s.status AS saga_status"""


async def list_dead_letters(conn: Conn, *, pending_only: bool, order_id: str | None,
                            limit: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"SELECT {_DLQ_COLUMNS} FROM orders.dead_letters d"
        " LEFT JOIN orders.sagas s USING (saga_id)"
        " WHERE (NOT %(pending)s OR d.redriven_at IS NULL)"
        "   AND (%(order)s::text IS NULL OR d.order_id = %(order)s)"
        " ORDER BY d.created_at DESC LIMIT %(limit)s",
        {"pending": pending_only, "order": order_id, "limit": limit})
    return await cur.fetchall()


async def get_dead_letter(conn: Conn, ident: str) -> dict[str, Any] | None:
    try:
        key = uuid.UUID(ident)
    except ValueError:
        return None
    cur = await conn.execute(
        f"SELECT {_DLQ_COLUMNS}, d.message FROM orders.dead_letters d"
        " LEFT JOIN orders.sagas s USING (saga_id) WHERE d.id = %s", (key,))
    return await cur.fetchone()


async def pending_dead_letters(conn: Conn, limit: int, order_id: str | None = None
                               ) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"SELECT {_DLQ_COLUMNS}, d.message FROM orders.dead_letters d"
        " LEFT JOIN orders.sagas s USING (saga_id)"
        " WHERE d.redriven_at IS NULL AND (%s::text IS NULL OR d.order_id = %s)"
        " ORDER BY d.created_at LIMIT %s", (order_id, order_id, limit))
    return await cur.fetchall()


async def mark_redriven(conn: Conn, dead_letter_id: uuid.UUID) -> bool:
    """Claims the dead letter for a redrive (once: a second redrive of it matches nothing)."""
    cur = await conn.execute(
        "UPDATE orders.dead_letters SET redriven_at = now() WHERE id = %s"
        " AND redriven_at IS NULL RETURNING id", (dead_letter_id,))
    return await cur.fetchone() is not None


async def unmark_redriven(conn: Conn, dead_letter_id: uuid.UUID) -> None:
    """Gives the claim back when the message could not be sent."""
    await conn.execute("UPDATE orders.dead_letters SET redriven_at = NULL WHERE id = %s",
                       (dead_letter_id,))


async def purge_dead_letters(conn: Conn, older_than: float, *, dry_run: bool) -> int:
    if dry_run:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM orders.dead_letters"
            " WHERE created_at < now() - %s * interval '1 second'", (older_than,))
        row = await cur.fetchone()
        return int(row["n"]) if row else 0
    cur = await conn.execute(
        "DELETE FROM orders.dead_letters WHERE created_at < now() - %s * interval '1 second'",
        (older_than,))
    return cur.rowcount


# --- outbox ---------------------------------------------------------------------------------

async def outbox_status(conn: Conn, alive_within: float) -> dict[str, Any]:
    cur = await conn.execute(
        "SELECT (SELECT count(*) FROM orders.outbox WHERE sent_at IS NULL) AS backlog,"
        " (SELECT extract(epoch FROM now() - min(created_at))::float8 FROM orders.outbox"
        "   WHERE sent_at IS NULL) AS oldest_unsent_s,"
        " (SELECT count(*) FROM orders.outbox WHERE sent_at > now() - interval '1 minute')"
        "   AS sent_last_minute")
    summary = dict(await cur.fetchone() or {})
    cur = await conn.execute(
        "SELECT relay_id, host, pid, last_seen_at, last_batch_size, last_batch_at,"
        " extract(epoch FROM now() - last_seen_at)::float8 AS seen_s,"
        " extract(epoch FROM now() - last_batch_at)::float8 AS batch_s,"
        " last_seen_at > now() - %s * interval '1 second' AS alive"
        " FROM orders.relay_heartbeats ORDER BY last_seen_at DESC", (alive_within,))
    relays = await cur.fetchall()
    summary["relays"] = relays
    summary["relays_alive"] = sum(1 for r in relays if r["alive"])
    return summary
