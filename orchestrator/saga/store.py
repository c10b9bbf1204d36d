"""Saga tables (step log, processed messages, dead letters) and the SQL the engine runs.

Every state change is ONE statement: the saga row update (guarded by the claim token), the step
log rows, the order status and the processed message id go together in a data-modifying CTE, so
a saga step costs one round trip and a stale worker (its lease taken over) changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from orchestrator.store import metadata, sagas

_NOW = text("now()")

# Columns this package adds to orders.sagas (migration 0002).
for _column in (
    Column("lease_token", Uuid),  # the claim of the worker advancing the saga (NULL: free)
    Column("lease_until", DateTime(timezone=True)),  # PostgreSQL time another may take over
    Column("swept_at", DateTime(timezone=True)),  # last re-enqueue by the sweeper
    Column("compensate_from", Text),  # forward steps before this one are undone
    Column("compensation_reason", Text),  # why the saga compensates (the cancel reason)
):
    if _column.name not in sagas.c:
        sagas.append_column(_column)
if not any(index.name == "sagas_active_due" for index in sagas.indexes):
    # The sweeper's scan: active sagas by due time.
    Index("sagas_active_due", func.coalesce(sagas.c.next_attempt_at, sagas.c.updated_at),
          postgresql_where=sagas.c.status.in_(["RUNNING", "COMPENSATING"]))

saga_steps = Table(
    "saga_steps",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("saga_id", Uuid, ForeignKey("sagas.saga_id", ondelete="CASCADE"), nullable=False),
    Column("step", Text, nullable=False),
    Column("direction", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("error", Text),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("duration_ms", Float, nullable=False),
    CheckConstraint("direction IN ('do', 'undo')", name="step_direction_known"),
    CheckConstraint("outcome IN ('OK', 'RETRY', 'FAILED', 'SKIPPED', 'GAVE_UP')",
                    name="step_outcome_known"),
    Index("saga_steps_saga", "saga_id", "id"),
)

saga_messages = Table(
    "saga_messages",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("saga_id", Uuid, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Index("saga_messages_processed", "processed_at"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("message_id", Text, nullable=False),
    Column("saga_id", Uuid, ForeignKey("sagas.saga_id", ondelete="SET NULL")),
    Column("order_id", Text),
    Column("queue_name", Text, nullable=False),
    Column("actor_name", Text, nullable=False),
    Column("message", JSONB, nullable=False),
    Column("error", Text),
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("redriven_at", DateTime(timezone=True)),
    Index("dead_letters_created", "created_at"),
    Index("dead_letters_saga", "saga_id"),
)


@dataclass
class OrderView:
    """What the saga's calls need of the order (read with the claim)."""

    order_id: str
    customer_id: str
    currency: str
    total_minor: int
    payment_method: str
    locale: str
    contact_email: str
    callback_url: str | None
    items: list[dict[str, Any]]


@dataclass
class SagaState:
    """The saga row as the engine sees it, refreshed by every write."""

    saga_id: uuid.UUID
    status: str
    current_step: str
    attempt: int
    cancel_requested: bool
    cancel_reason: str | None
    compensate_from: str | None
    compensation_reason: str | None
    expired: bool
    version: int


@dataclass
class LogEntry:
    step: str
    direction: str
    attempt: int
    outcome: str
    error: str | None
    duration_ms: float


@dataclass
class Write:
    """One coalesced state change: the saga's new position, its log rows, the order status."""

    status: str
    current_step: str
    attempt: int
    log: list[LogEntry] = field(default_factory=list)
    retry_in: float | None = None  # seconds; sets next_attempt_at (capped by the deadline)
    cap_at_deadline: bool = True
    compensate_from: str | None = None
    compensation_reason: str | None = None
    last_error: str | None = None
    order_status: str | None = None
    order_reason: str | None = None
    release: bool = False  # give the lease back (the advance ends)
    message_id: str | None = None  # record as processed
    unless_cancel_requested: bool = False  # COMPLETE_ORDER: lose to a concurrent CancelOrder


_DEADLINE = "LEAST(s.deadline_at, s.created_at + %(deadline)s * interval '1 second')"

_CLAIM = f"""
WITH claimed AS (
  UPDATE orders.sagas s
     SET lease_token = %(token)s, lease_until = now() + %(lease)s * interval '1 second'
   WHERE s.order_id = %(order_id)s
     AND s.status IN ('RUNNING', 'COMPENSATING') AND NOT s.paused
     AND (s.lease_until IS NULL OR s.lease_until < now())
     AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= now()
          OR (s.cancel_requested AND s.status = 'RUNNING'))
     AND NOT EXISTS (SELECT 1 FROM orders.saga_messages m WHERE m.message_id = %(message_id)s)
  RETURNING s.*, {_DEADLINE} <= now() AS expired
), started AS (
  UPDATE orders.orders o SET status = 'PROCESSING', updated_at = now(), version = o.version + 1
    FROM claimed c WHERE o.order_id = c.order_id AND o.status = 'PENDING'
)
SELECT c.saga_id, c.status, c.current_step, c.attempt, c.cancel_requested, c.cancel_reason,
       c.compensate_from, c.compensation_reason, c.expired, c.version,
       o.order_id, o.customer_id, o.currency, o.total_minor, o.payment_method, o.locale,
       o.contact_email, o.callback_url,
       (SELECT coalesce(json_agg(json_build_object(
                 'product_id', i.product_id, 'sku', i.sku, 'name', i.name,
                 'unit_price_minor', i.unit_price_minor, 'quantity', i.quantity,
                 'line_total_minor', i.line_total_minor) ORDER BY i.sku), '[]'::json)
          FROM orders.order_items i WHERE i.order_id = c.order_id) AS items
  FROM claimed c JOIN orders.orders o ON o.order_id = c.order_id
"""

_WRITE = f"""
WITH s AS (
  UPDATE orders.sagas s
     SET status = %(status)s, current_step = %(current_step)s, attempt = %(attempt)s,
         next_attempt_at = CASE WHEN %(retry_in)s::float8 IS NULL THEN NULL
              WHEN %(cap)s THEN LEAST(now() + %(retry_in)s * interval '1 second', {_DEADLINE})
              ELSE now() + %(retry_in)s * interval '1 second' END,
         compensate_from = coalesce(%(compensate_from)s, s.compensate_from),
         compensation_reason = coalesce(%(compensation_reason)s, s.compensation_reason),
         last_error = coalesce(%(last_error)s, s.last_error),
         lease_token = CASE WHEN %(release)s THEN NULL ELSE s.lease_token END,
         lease_until = CASE WHEN %(release)s THEN NULL
                            ELSE now() + %(lease)s * interval '1 second' END,
         version = s.version + 1, updated_at = now()
   WHERE s.saga_id = %(saga_id)s AND s.lease_token = %(token)s
     AND NOT (%(unless_cancel)s AND s.cancel_requested)
  RETURNING s.saga_id, s.order_id, s.version, s.cancel_requested, s.cancel_reason, s.paused,
            {_DEADLINE} <= now() AS expired,
            extract(epoch FROM s.next_attempt_at - now()) AS retry_in
), log AS (
  INSERT INTO orders.saga_steps
         (saga_id, step, direction, attempt, outcome, error, started_at, finished_at, duration_ms)
  SELECT s.saga_id, l.step, l.direction, l.attempt, l.outcome, l.error,
         now() - l.ms * interval '1 millisecond', now(), l.ms
    FROM s, unnest(%(l_step)s::text[], %(l_dir)s::text[], %(l_attempt)s::int[],
                   %(l_outcome)s::text[], %(l_error)s::text[], %(l_ms)s::float8[])
         AS l(step, direction, attempt, outcome, error, ms)
), ord AS (
  UPDATE orders.orders o
     SET status = %(order_status)s, cancel_reason = %(order_reason)s, updated_at = now(),
         version = o.version + 1
    FROM s WHERE o.order_id = s.order_id AND %(order_status)s::text IS NOT NULL
     AND o.status IS DISTINCT FROM %(order_status)s
), msg AS (
  INSERT INTO orders.saga_messages (message_id, saga_id)
  SELECT %(message_id)s, s.saga_id FROM s WHERE %(message_id)s::text IS NOT NULL
  ON CONFLICT DO NOTHING
)
SELECT * FROM s
"""


@asynccontextmanager
async def single_statements(
    pool: AsyncConnectionPool[Any],
) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection in autocommit mode: each of our statements is its own transaction.

    Every saga query is ONE statement, so the implicit BEGIN and COMMIT a transaction adds would
    triple its round trips. (Setting the flag on an idle connection costs no round trip.)
    """
    async with pool.connection() as conn:
        if not conn.autocommit:
            await conn.set_autocommit(True)
        yield conn


async def _one(conn: AsyncConnection[Any], sql: str, params: Any) -> dict[str, Any] | None:
    """The first row as a dict (the pool's connections use dict rows)."""
    cur = await conn.execute(sql, params)
    return cast("dict[str, Any] | None", await cur.fetchone())


async def _all(conn: AsyncConnection[Any], sql: str, params: Any) -> list[dict[str, Any]]:
    cur = await conn.execute(sql, params)
    return cast("list[dict[str, Any]]", await cur.fetchall())


class SagaStore:
    """The engine's queries on the psycopg pool (one round trip each)."""

    def __init__(self, pool: AsyncConnectionPool[Any], *, lease: float, deadline: float
                 ) -> None:
        self.pool = pool
        self.lease = lease
        self.deadline = deadline

    async def claim(self, order_id: uuid.UUID, message_id: str, token: uuid.UUID
                    ) -> tuple[SagaState, OrderView] | None:
        """Take the saga's lease if it is free, due and the message is new; load the order."""
        async with single_statements(self.pool) as conn:
            row = await _one(conn, _CLAIM, {
                "order_id": order_id, "message_id": message_id, "token": token,
                "lease": self.lease, "deadline": self.deadline,
            })
        if row is None:
            return None
        state = SagaState(
            saga_id=row["saga_id"], status=row["status"], current_step=row["current_step"],
            attempt=row["attempt"], cancel_requested=row["cancel_requested"],
            cancel_reason=row["cancel_reason"], compensate_from=row["compensate_from"],
            compensation_reason=row["compensation_reason"], expired=row["expired"],
            version=row["version"],
        )
        order = OrderView(
            order_id=str(row["order_id"]), customer_id=row["customer_id"],
            currency=row["currency"], total_minor=row["total_minor"],
            payment_method=row["payment_method"], locale=row["locale"],
            contact_email=row["contact_email"], callback_url=row["callback_url"],
            items=row["items"],
        )
        return state, order

    async def write(self, state: SagaState, token: uuid.UUID, w: Write) -> dict[str, Any] | None:
        """Apply one state change; None when this worker no longer holds the saga."""
        params = {
            "saga_id": state.saga_id, "token": token, "status": w.status,
            "current_step": w.current_step, "attempt": w.attempt, "retry_in": w.retry_in,
            "cap": w.cap_at_deadline, "compensate_from": w.compensate_from,
            "compensation_reason": w.compensation_reason, "last_error": w.last_error,
            "release": w.release, "lease": self.lease, "deadline": self.deadline,
            "unless_cancel": w.unless_cancel_requested,
            "l_step": [e.step for e in w.log], "l_dir": [e.direction for e in w.log],
            "l_attempt": [e.attempt for e in w.log], "l_outcome": [e.outcome for e in w.log],
            "l_error": [e.error for e in w.log], "l_ms": [e.duration_ms for e in w.log],
            "order_status": w.order_status, "order_reason": w.order_reason,
            "message_id": w.message_id,
        }
        async with single_statements(self.pool) as conn:
            return await _one(conn, _WRITE, params)

    async def holds(self, saga_id: uuid.UUID, token: uuid.UUID) -> dict[str, Any] | None:
        """The saga's lease and cancel flag (after a guarded write matched nothing)."""
        async with single_statements(self.pool) as conn:
            return await _one(conn, "SELECT lease_token = %s AS mine, cancel_requested"
                              " FROM orders.sagas WHERE saga_id = %s", (token, saga_id))

    async def release(self, saga_id: uuid.UUID, token: uuid.UUID) -> None:
        async with single_statements(self.pool) as conn:
            await conn.execute(
                "UPDATE orders.sagas SET lease_token = NULL, lease_until = NULL"
                " WHERE saga_id = %s AND lease_token = %s", (saga_id, token))

    async def saga_exists(self, order_id: uuid.UUID) -> bool:
        async with single_statements(self.pool) as conn:
            return await _one(conn, "SELECT 1 FROM orders.sagas WHERE order_id = %s",
                              (order_id,)) is not None


# --- sweeper ------------------------------------------------------------------------------

_OVERDUE = """
UPDATE orders.sagas SET swept_at = now()
 WHERE saga_id IN (
   SELECT saga_id FROM orders.sagas
    WHERE status IN ('RUNNING', 'COMPENSATING') AND NOT paused
      AND coalesce(next_attempt_at, updated_at) <= now() - %(grace)s * interval '1 second'
      AND (lease_until IS NULL OR lease_until < now())
      AND (swept_at IS NULL OR swept_at <= now() - %(grace)s * interval '1 second')
    ORDER BY coalesce(next_attempt_at, updated_at)
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING order_id
"""


async def overdue_sagas(pool: AsyncConnectionPool[Any], grace: float, limit: int) -> list[str]:
    """Order ids of active sagas nobody drives (lost message, dead worker), marked as swept.

    Every time is PostgreSQL's; `swept_at` keeps several sweepers from re-sending the same saga
    more than once per grace period.
    """
    async with single_statements(pool) as conn:
        found = await _all(conn, _OVERDUE, {"grace": grace, "limit": limit})
    return [str(r["order_id"]) for r in found]


async def purge_messages(pool: AsyncConnectionPool[Any], older_than: float) -> int:
    async with single_statements(pool) as conn:
        cur = await conn.execute(
            "DELETE FROM orders.saga_messages"
            " WHERE processed_at < now() - %s * interval '1 second'", (older_than,))
        return int(cur.rowcount)


# --- dead letters -------------------------------------------------------------------------

async def insert_dead_letter(conn: AsyncConnection[Any], *, message_id: str,
                             order_id: str | None, queue_name: str, actor_name: str,
                             message: dict[str, Any], error: str | None, attempts: int) -> None:
    """Store a message that ran out of deliveries, linked to its saga, and pause that saga."""
    saga_cur = None
    try:
        saga_cur = uuid.UUID(order_id) if order_id else None
    except ValueError:
        saga_cur = None
    # The saga is paused: the sweeper would re-send it into the same failure forever.
    # The CLI's redrive resumes it. (The caller's transaction holds both statements.)
    await conn.execute(
        "UPDATE orders.sagas SET paused = true, updated_at = now(), version = version + 1,"
        " last_error = %s WHERE order_id = %s AND status IN ('RUNNING', 'COMPENSATING')",
        (f"dead-lettered: {error}", saga_cur))
    await conn.execute(
        "INSERT INTO orders.dead_letters (id, message_id, saga_id, order_id, queue_name,"
        " actor_name, message, error, attempts)"
        " VALUES (%s, %s, (SELECT saga_id FROM orders.sagas WHERE order_id = %s), %s, %s, %s,"
        " %s, %s, %s)",
        (uuid.uuid4(), message_id, saga_cur, order_id, queue_name, actor_name, Jsonb(message),
         error, attempts),
    )
