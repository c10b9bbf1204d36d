"""The saga engine against real PostgreSQL and Redis, with scripted ports (no services)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from orchestrator.saga.breaker import KEY_PREFIX, Breakers
from orchestrator.saga.engine import Engine, PoisonMessage, SagaNotFound
from orchestrator.saga.store import SagaStore
from tests.saga.fakes import FakePorts, permanent, transient
from tests.saga.orders import Line, place_order, saga, steps

pytestmark = pytest.mark.integration


class Rig:
    def __init__(self, pool: AsyncConnectionPool, redis: Redis, *, lease: float = 30.0) -> None:
        self.ports = FakePorts()
        self.scheduled: list[tuple[str, float]] = []
        self.orders: list[uuid.UUID] = []
        self.pool = pool
        self.engine = Engine(SagaStore(pool, lease=lease, deadline=600.0), self.ports,
                             Breakers(redis, failures=5, open_seconds=0.5), self._schedule,
                             backoff_scale=0.01)

    async def _schedule(self, order_id: str, delay: float) -> None:
        self.scheduled.append((order_id, delay))

    async def advance(self, order_id: str, message_id: str | None = None) -> str:
        result = await self.engine.advance(order_id, message_id or str(uuid.uuid4()))
        return result.outcome

    async def drive(self, order_id: str, limit: int = 30) -> str:
        """Advance like the delayed messages would, until the saga ends."""
        for _ in range(limit):
            outcome = await self.advance(order_id)
            if outcome in ("COMPLETED", "COMPENSATED", "FAILED"):
                return outcome
            await asyncio.sleep(0.05)
        raise AssertionError(f"saga {order_id} did not finish")


@pytest.fixture
async def rig(saga_pool: AsyncConnectionPool, redis: Redis) -> AsyncIterator[Rig]:
    for key in await redis.keys(KEY_PREFIX + "*"):
        await redis.delete(key)
    rig = Rig(saga_pool, redis)
    yield rig
    # Sagas left mid-way (fake products) are parked so no later worker's sweeper drives them.
    async with saga_pool.connection() as conn:
        await conn.execute("UPDATE orders.sagas SET paused = true WHERE order_id = ANY(%s)"
                           " AND status IN ('RUNNING', 'COMPENSATING')", (rig.orders,))


async def new_order(rig: Rig, lines: int = 2) -> str:
    order_id = await place_order(rig.pool, [Line(str(uuid.uuid4()), 1 + n)
                                            for n in range(lines)])
    rig.orders.append(uuid.UUID(order_id))
    return order_id


async def test_happy_path_runs_every_step_once_with_keys(rig: Rig) -> None:
    order_id = await new_order(rig)
    message_id = str(uuid.uuid4())

    assert await rig.advance(order_id, message_id) == "COMPLETED"

    s = await saga(rig.pool, order_id)
    assert (s["status"], s["order_status"], s["lease_token"]) == ("COMPLETED", "CONFIRMED", None)
    assert rig.ports.calls == [
        ("reserve_stock", f"{order_id}:RESERVE_STOCK"),
        ("charge_payment", f"{order_id}:CHARGE_PAYMENT"),
        ("commit_stock", f"{order_id}:COMMIT_STOCK"),
        ("send_confirmation", f"{order_id}:SEND_CONFIRMATION"),
    ]
    assert [st for st, _, _ in await steps(rig.pool, order_id)] == [
        "RESERVE_STOCK", "CHARGE_PAYMENT", "COMMIT_STOCK", "SEND_CONFIRMATION", "COMPLETE_ORDER"]
    # The same message again (a redelivery) changes nothing.
    assert await rig.advance(order_id, message_id) == "skipped"
    assert len(rig.ports.calls) == 4


async def test_out_of_stock_cancels_without_undo(rig: Rig) -> None:
    order_id = await new_order(rig)
    rig.ports.fail("reserve_stock", permanent("OUT_OF_STOCK"))

    assert await rig.advance(order_id) == "COMPENSATED"

    s = await saga(rig.pool, order_id)
    assert (s["order_status"], s["order_reason"]) == ("CANCELLED", "OUT_OF_STOCK")
    assert rig.ports.actions(order_id) == ["reserve_stock", "send_cancellation"]


async def test_declined_payment_releases_the_hold(rig: Rig) -> None:
    order_id = await new_order(rig)
    rig.ports.fail("charge_payment", permanent("PAYMENT_DECLINED"))

    assert await rig.advance(order_id) == "COMPENSATED"

    s = await saga(rig.pool, order_id)
    assert (s["order_status"], s["order_reason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert rig.ports.actions(order_id) == [
        "reserve_stock", "charge_payment", "release_stock", "send_cancellation"]


async def test_transient_failures_are_rescheduled_not_slept(rig: Rig) -> None:
    order_id = await new_order(rig)
    rig.ports.fail("charge_payment", transient(), transient())

    assert await rig.advance(order_id) == "scheduled"
    s = await saga(rig.pool, order_id)
    assert (s["current_step"], s["attempt"], s["lease_token"]) == ("CHARGE_PAYMENT", 1, None)
    assert s["next_attempt_at"] is not None
    assert rig.scheduled and rig.scheduled[0][0] == order_id

    assert await rig.drive(order_id) == "COMPLETED"
    assert rig.ports.actions(order_id).count("charge_payment") == 3
    log = [(st, out) for st, _, out in await steps(rig.pool, order_id) if st == "CHARGE_PAYMENT"]
    assert log == [("CHARGE_PAYMENT", "RETRY"), ("CHARGE_PAYMENT", "RETRY"),
                   ("CHARGE_PAYMENT", "OK")]


async def test_early_message_does_not_skip_the_backoff(rig: Rig) -> None:
    order_id = await new_order(rig)
    rig.ports.fail("charge_payment", transient())
    rig.engine.backoff_scale = 100.0  # next attempt far away
    assert await rig.advance(order_id) == "scheduled"
    assert await rig.advance(order_id) == "skipped"
    assert rig.ports.actions(order_id).count("charge_payment") == 1


async def test_deadline_compensates_a_step_in_doubt(rig: Rig) -> None:
    order_id = await new_order(rig)
    rig.ports.fail("charge_payment", *[transient()] * 3)
    assert await rig.advance(order_id) == "scheduled"
    async with rig.pool.connection() as conn:
        await conn.execute("UPDATE orders.sagas SET deadline_at = now() WHERE order_id = %s",
                           (order_id,))

    assert await rig.drive(order_id) == "COMPENSATED"

    s = await saga(rig.pool, order_id)
    assert (s["order_status"], s["order_reason"]) == ("CANCELLED", "PROCESSING_TIMEOUT")
    # The charge may have landed: it is refunded, then the hold released.
    assert rig.ports.actions(order_id)[-3:] == [
        "refund_payment", "release_stock", "send_cancellation"]


async def test_customer_cancel_while_waiting_undoes_what_was_done(rig: Rig) -> None:
    order_id = await new_order(rig)
    rig.ports.fail("commit_stock", transient())
    rig.engine.backoff_scale = 100.0
    assert await rig.advance(order_id) == "scheduled"
    async with rig.pool.connection() as conn:
        await conn.execute("UPDATE orders.sagas SET cancel_requested = true,"
                           " cancel_reason = 'CUSTOMER_CANCELLED' WHERE order_id = %s",
                           (order_id,))

    assert await rig.advance(order_id) == "COMPENSATED"

    s = await saga(rig.pool, order_id)
    assert (s["order_status"], s["order_reason"]) == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert rig.ports.actions(order_id) == [
        "reserve_stock", "charge_payment", "commit_stock",
        "restock", "refund_payment", "release_stock", "send_cancellation"]


async def test_failed_notification_never_cancels_a_paid_order(rig: Rig) -> None:
    order_id = await new_order(rig)
    rig.ports.fail("send_confirmation", permanent("INVALID_ARGUMENT"))

    assert await rig.advance(order_id) == "COMPLETED"
    assert ("SEND_CONFIRMATION", "do", "SKIPPED") in await steps(rig.pool, order_id)


async def test_compensation_that_cannot_finish_fails_the_order(rig: Rig) -> None:
    order_id = await new_order(rig)
    rig.ports.fail("charge_payment", permanent("PAYMENT_DECLINED"))
    rig.ports.fail("release_stock", permanent("RESERVATION_CONFLICT"))

    assert await rig.advance(order_id) == "FAILED"
    s = await saga(rig.pool, order_id)
    assert s["order_status"] == "FAILED"
    assert "RESERVATION_CONFLICT" in s["last_error"]


async def test_only_one_worker_advances_a_saga(rig: Rig) -> None:
    order_id = await new_order(rig)
    gate = asyncio.Event()
    original = rig.ports.reserve_stock

    async def slow(call):  # type: ignore[no-untyped-def]
        await gate.wait()
        await original(call)

    rig.ports.reserve_stock = slow  # type: ignore[method-assign]
    first = asyncio.create_task(rig.advance(order_id))
    await asyncio.sleep(0.05)
    assert await rig.advance(order_id) == "skipped"  # the lease is held
    gate.set()
    assert await first == "COMPLETED"
    assert rig.ports.actions(order_id).count("charge_payment") == 1


async def test_breaker_opens_after_five_failures_and_short_circuits(rig: Rig) -> None:
    orders = [await new_order(rig) for _ in range(6)]
    for order_id in orders[:5]:
        rig.ports.fail("charge_payment", transient())
        assert await rig.advance(order_id) == "scheduled"

    assert await rig.advance(orders[5]) == "scheduled"

    assert rig.ports.actions(orders[5]) == ["reserve_stock"]  # payment never called
    s = await saga(rig.pool, orders[5])
    assert "BREAKER_OPEN" in s["last_error"]
    await asyncio.sleep(0.6)  # open period over: one trial goes through and closes it
    assert await rig.drive(orders[5]) == "COMPLETED"


async def test_malformed_and_unknown_orders_raise(rig: Rig) -> None:
    with pytest.raises(PoisonMessage):
        await rig.advance("not-an-order")
    with pytest.raises(SagaNotFound):
        await rig.advance(str(uuid.uuid4()))


async def test_sweeper_picks_overdue_unleased_sagas_once_per_grace(rig: Rig) -> None:
    from orchestrator.saga.store import overdue_sagas

    overdue, leased, paused, fresh = [await new_order(rig, 1) for _ in range(4)]
    async with rig.pool.connection() as conn:
        await conn.execute("UPDATE orders.sagas SET next_attempt_at = now() - interval '1 min'"
                           " WHERE order_id = ANY(%s::uuid[])", ([overdue, leased, paused],))
        await conn.execute("UPDATE orders.sagas SET lease_token = gen_random_uuid(),"
                           " lease_until = now() + interval '1 min' WHERE order_id = %s",
                           (leased,))
        await conn.execute("UPDATE orders.sagas SET paused = true WHERE order_id = %s",
                           (paused,))

    swept = await overdue_sagas(rig.pool, grace=5.0, limit=10_000)

    assert overdue in swept
    assert not {leased, paused, fresh} & set(swept)
    assert overdue not in await overdue_sagas(rig.pool, grace=5.0, limit=10_000)


async def test_pause_during_an_advance_stops_it_after_the_current_step(rig: Rig) -> None:
    order_id = await new_order(rig)
    original = rig.ports.charge_payment

    async def pause_then_charge(call):  # type: ignore[no-untyped-def]
        async with rig.pool.connection() as conn:  # the operator's `sagas pause`
            await conn.execute("UPDATE orders.sagas SET paused = true WHERE order_id = %s",
                               (order_id,))
        await original(call)

    rig.ports.charge_payment = pause_then_charge  # type: ignore[method-assign]

    assert await rig.advance(order_id) == "paused"
    s = await saga(rig.pool, order_id)
    assert (s["status"], s["current_step"], s["lease_token"]) == ("RUNNING", "COMMIT_STOCK", None)
    assert await rig.advance(order_id) == "skipped"  # paused sagas are left alone
