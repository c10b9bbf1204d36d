"""The outbox relay against real PostgreSQL and Redis: at least once, SKIP LOCKED, no cursor."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
import pytest_asyncio
import redis
from dramatiq import Message
from psycopg_pool import AsyncConnectionPool

from orchestrator.outbox import OutboxRow
from orchestrator.publisher import DramatiqPublisher
from orchestrator.relay import Relay
from svckit.db import libpq_url

pytestmark = pytest.mark.integration


class Queue:
    """A Dramatiq queue of its own per test, read back from its Redis keys."""

    def __init__(self, redis_url: str) -> None:
        self.name = f"saga-test-{uuid.uuid4().hex[:8]}"
        self.publisher = DramatiqPublisher(redis_url, self.name)
        self.client = redis.Redis.from_url(redis_url)

    def messages(self) -> list[Message[object]]:
        """Every enqueued message, in queue order (duplicates included)."""
        slots = self.client.lrange(f"dramatiq:{self.name}", 0, -1)
        bodies = self.client.hmget(f"dramatiq:{self.name}.msgs", slots) if slots else []
        return [Message.decode(body) for body in bodies]

    def ids(self) -> list[str]:
        return [m.message_id for m in self.messages()]

    async def close(self) -> None:
        self.client.delete(f"dramatiq:{self.name}", f"dramatiq:{self.name}.msgs")
        self.client.close()
        await self.publisher.close()


@pytest_asyncio.fixture(loop_scope="session")
async def queue(redis_url: str) -> AsyncIterator[Queue]:
    q = Queue(redis_url)
    yield q
    await q.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def relay_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    from svckit.db import open_pool

    pool = await open_pool(database_url, name="relay-test", max_size=6)
    await pool.wait()
    yield pool
    await pool.close()


async def insert_rows(pool: AsyncConnectionPool, n: int) -> list[str]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO orders.outbox (id, aggregate_id, event_type)"
            " SELECT gen_random_uuid(), gen_random_uuid(), 'OrderPlaced'"
            " FROM generate_series(1, %s) RETURNING id", (n,))
        return [str(r["id"]) for r in await cur.fetchall()]


async def unsent(pool: AsyncConnectionPool, ids: Sequence[str]) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM orders.outbox WHERE id = ANY(%s::uuid[])"
            " AND sent_at IS NULL", (list(ids),))
        row = await cur.fetchone()
        return int(row["n"])


def relay(pool: AsyncConnectionPool, queue: Queue, **options: float) -> Relay:
    return Relay(pool, queue.publisher.publish, relay_id=f"test-{uuid.uuid4().hex[:6]}",
                 **options)  # type: ignore[arg-type]


async def test_two_relays_deliver_every_row_and_mark_each_once(
    relay_pool: AsyncConnectionPool, queue: Queue
) -> None:
    # Given 2,000 unsent rows
    ids = await insert_rows(relay_pool, 2000)
    one, two = relay(relay_pool, queue), relay(relay_pool, queue)
    # When two relays drain at the same time
    marked = await asyncio.gather(one.drain(), two.drain())
    # Then both worked, every row reached Redis and is marked sent, and nothing was sent twice
    assert all(m > 0 for m in marked)
    delivered = queue.ids()
    assert set(ids) <= set(delivered)
    assert len(delivered) == len(set(delivered)) == sum(marked)
    assert await unsent(relay_pool, ids) == 0


async def test_publish_reloads_the_script_after_a_redis_restart(
    relay_pool: AsyncConnectionPool, queue: Queue
) -> None:
    # Given Redis lost its scripts (a restart without persistence)
    queue.client.script_flush()
    (row_id,) = await insert_rows(relay_pool, 1)
    # When the relay publishes, the batch still arrives
    await relay(relay_pool, queue).drain()
    assert row_id in queue.ids()


async def test_message_format(relay_pool: AsyncConnectionPool, queue: Queue) -> None:
    (row_id,) = await insert_rows(relay_pool, 1)
    await relay(relay_pool, queue).drain()
    async with relay_pool.connection() as conn:
        cur = await conn.execute("SELECT aggregate_id FROM orders.outbox WHERE id = %s",
                                 (row_id,))
        order_id = str((await cur.fetchone())["aggregate_id"])
    (message,) = [m for m in queue.messages() if m.message_id == row_id]
    assert message.queue_name == queue.name and message.actor_name == "advance_saga"
    assert message.args == (order_id,)
    assert message.kwargs == {"event": "OrderPlaced", "outbox_id": row_id}


async def test_a_writer_that_commits_last_is_still_relayed(
    relay_pool: AsyncConnectionPool, queue: Queue, database_url: str
) -> None:
    import psycopg

    r = relay(relay_pool, queue)
    # Given a writer whose transaction inserts first but has not committed
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as slow:
        cur = await slow.execute(
            "INSERT INTO orders.outbox (id, aggregate_id, event_type)"
            " VALUES (gen_random_uuid(), gen_random_uuid(), 'OrderPlaced') RETURNING id")
        slow_id = str((await cur.fetchone())[0])
        # And a later writer that commits at once, relayed at once
        (fast_id,) = await insert_rows(relay_pool, 1)
        await r.drain()
        assert fast_id in queue.ids() and slow_id not in queue.ids()
        # When the first writer finally commits
        await slow.commit()
    # Then its row, older than one already sent, is relayed too
    await r.drain()
    assert slow_id in queue.ids()
    assert await unsent(relay_pool, [slow_id, fast_id]) == 0


class Killed(BaseException):
    """Stands for the relay process dying after Redis accepted the batch."""


async def test_a_relay_killed_between_send_and_mark_resends(
    relay_pool: AsyncConnectionPool, queue: Queue
) -> None:
    ids = await insert_rows(relay_pool, 3)

    async def send_then_die(rows: Sequence[OutboxRow]) -> None:
        await queue.publisher.publish(rows)
        raise Killed

    dying = Relay(relay_pool, send_then_die, relay_id="dying")
    with pytest.raises(Killed):
        await dying.drain()
    # The messages left, but the rows are still unsent (the transaction never committed)
    assert set(ids) <= set(queue.ids())
    assert await unsent(relay_pool, ids) == 3
    # When another relay runs, it sends them again and marks them; consumers dedupe by id
    await relay(relay_pool, queue).drain()
    delivered = queue.ids()
    assert all(delivered.count(i) == 2 for i in ids)
    assert await unsent(relay_pool, ids) == 0


async def test_run_is_woken_by_notify_and_survives_redis_outages(
    relay_pool: AsyncConnectionPool, queue: Queue, database_url: str
) -> None:
    failures = 2

    async def flaky(rows: Sequence[OutboxRow]) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise redis.ConnectionError("redis is away")
        await queue.publisher.publish(rows)

    # A poll interval far longer than the test: only NOTIFY can wake the relay.
    r = Relay(relay_pool, flaky, relay_id=f"run-{uuid.uuid4().hex[:6]}", poll_interval=60.0)
    stop = asyncio.Event()
    runner = asyncio.create_task(r.run(database_url, stop))
    try:
        async with asyncio.timeout(5):
            await r.listening.wait()
        await asyncio.sleep(0.1)  # and idle again after its first pass
        (row_id,) = await insert_rows(relay_pool, 1)
        for _ in range(250):  # at most 5 s
            if row_id in queue.ids():
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the row was not relayed within 5 s")
        assert failures == 0
        async with relay_pool.connection() as conn:
            cur = await conn.execute(
                "SELECT pid FROM orders.relay_heartbeats WHERE relay_id = %s", (r.relay_id,))
            assert await cur.fetchone() is not None
    finally:
        stop.set()
        async with asyncio.timeout(5):
            await runner
    # A relay that stopped cleanly takes its heartbeat with it
    async with relay_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM orders.relay_heartbeats WHERE relay_id = %s", (r.relay_id,))
        assert await cur.fetchone() is None


async def test_sent_rows_are_purged_after_the_retention(
    relay_pool: AsyncConnectionPool, queue: Queue
) -> None:
    old, recent = await insert_rows(relay_pool, 2)
    async with relay_pool.connection() as conn:
        await conn.execute("UPDATE orders.outbox SET sent_at = now() - interval '8 days'"
                           " WHERE id = %s", (old,))
        await conn.execute("UPDATE orders.outbox SET sent_at = now() WHERE id = %s", (recent,))
    await relay(relay_pool, queue, retention=7 * 86400.0).housekeeping()
    async with relay_pool.connection() as conn:
        cur = await conn.execute("SELECT id::text AS id FROM orders.outbox WHERE id = ANY(%s)",
                                 ([uuid.UUID(old), uuid.UUID(recent)],))
        assert [r["id"] for r in await cur.fetchall()] == [recent]


async def test_run_keeps_going_while_postgres_is_away(queue: Queue) -> None:
    from orchestrator.relay import ERRORS
    from svckit.db import open_pool

    # Given a relay whose database does not answer
    url = "postgresql://nobody@127.0.0.1:1/none"
    pool = await open_pool(url, name="relay-away", min_size=1, max_size=1, timeout=0.1)
    r = Relay(pool, queue.publisher.publish, relay_id="away", poll_interval=0.05)
    before = ERRORS._value.get()
    stop = asyncio.Event()
    runner = asyncio.create_task(r.run(url, stop))
    try:
        # When it has had time for a few passes
        await asyncio.sleep(0.6)
        # Then it counted failures, backed off and is still running
        assert not runner.done()
        assert ERRORS._value.get() - before >= 2
    finally:
        stop.set()
        async with asyncio.timeout(5):
            await runner
        await pool.close()
