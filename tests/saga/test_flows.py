"""Sagas end to end: the real worker process, inventory, payment and notify processes,
PostgreSQL and Redis. Every scenario ends with the SPEC §8 invariant checker."""

from __future__ import annotations

import asyncio
import signal
import urllib.request
import uuid

import pytest
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from orchestrator.saga import invariants
from orchestrator.saga.breaker import KEY_PREFIX
from tests.saga.orders import Line, place_order, rows, saga, steps
from tests.saga.stack import Stack, wait_until

pytestmark = pytest.mark.integration


async def settle(pool: AsyncConnectionPool, order_ids: list[str], timeout: float = 20.0
                 ) -> dict[str, tuple[str, str | None]]:
    """Waits until every order is terminal; {order_id: (status, cancel_reason)}."""
    found: dict[str, tuple[str, str | None]] = {}

    async def terminal() -> bool:
        for r in await rows(pool, "SELECT order_id, status, cancel_reason FROM orders.orders"
                            " WHERE order_id = ANY(%s::uuid[])", order_ids):
            found[str(r["order_id"])] = (r["status"], r["cancel_reason"])
        return all(found.get(o, ("",))[0] in ("CONFIRMED", "CANCELLED", "FAILED")
                   for o in order_ids)

    await wait_until(terminal, timeout)
    return found


async def check(stack: Stack, order_ids: list[str], product_ids: list[str]) -> None:
    problems = await invariants.check(invariants.Databases.single(stack.database_url),
                                      order_ids=order_ids, product_ids=product_ids)
    assert problems == []


@pytest.fixture
async def worker(stack: Stack, redis: Redis) -> Stack:
    """The default worker, with every breaker closed."""
    for key in await redis.keys(KEY_PREFIX + "*"):
        await redis.delete(key)
    stack.ensure_worker()
    return stack


async def test_happy_path_multi_item(worker: Stack, saga_pool: AsyncConnectionPool) -> None:
    # Given two products and three orders, one of them with both products
    a, b = await worker.new_product(20, 1250), await worker.new_product(20, 399)
    orders = [
        await place_order(saga_pool, [Line(a, 2, 1250), Line(b, 3, 399)]),
        await place_order(saga_pool, [Line(a, 1, 1250)]),
        await place_order(saga_pool, [Line(b, 5, 399)]),
    ]
    # When the relay's messages arrive
    for order_id in orders:
        worker.send(order_id)
    # Then every order is confirmed, stock sold, paid once, confirmed by email once
    result = await settle(saga_pool, orders)
    assert {s for s, _ in result.values()} == {"CONFIRMED"}
    stock_a, stock_b = await worker.stock(a), await worker.stock(b)
    assert (stock_a.on_hand, stock_a.reserved) == (17, 0)
    assert (stock_b.on_hand, stock_b.reserved) == (12, 0)
    emails = await rows(saga_pool, "SELECT order_id FROM notify.notifications"
                        " WHERE order_id = ANY(%s) AND template = 'ORDER_CONFIRMED'", orders)
    assert sorted(r["order_id"] for r in emails) == sorted(orders)
    await check(worker, orders, [a, b])
    # and the worker's metrics say so
    assert worker.worker is not None
    metrics = await asyncio.to_thread(_scrape, worker.worker.metrics_port)
    assert 'saga_outcomes_total{reason="",status="COMPLETED"}' in metrics
    assert 'saga_circuit_breaker_state{service="payment"} 0.0' in metrics


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def test_out_of_stock_and_declined_cancel(worker: Stack,
                                                saga_pool: AsyncConnectionPool) -> None:
    scarce = await worker.new_product(1)
    plenty = await worker.new_product(50)
    too_many = await place_order(saga_pool, [Line(plenty, 1), Line(scarce, 2)])
    declined = await place_order(saga_pool, [Line(plenty, 4)], method="pm_card_declined")
    fraud = await place_order(saga_pool, [Line(plenty, 1)], method="pm_card_fraud")
    for order_id in (too_many, declined, fraud):
        worker.send(order_id)

    result = await settle(saga_pool, [too_many, declined, fraud])

    assert result[too_many] == ("CANCELLED", "OUT_OF_STOCK")
    assert result[declined] == ("CANCELLED", "PAYMENT_DECLINED")
    assert result[fraud] == ("CANCELLED", "FRAUD_SUSPECTED")
    stock = await worker.stock(plenty)
    assert (stock.on_hand, stock.reserved) == (50, 0)  # holds released, nothing sold
    await check(worker, [too_many, declined, fraud], [scarce, plenty])


async def test_flaky_payment_confirms_after_retries_with_one_charge(
        worker: Stack, saga_pool: AsyncConnectionPool) -> None:
    product = await worker.new_product(10)
    order_id = await place_order(saga_pool, [Line(product, 2)], method="pm_card_flaky")
    worker.send(order_id)

    assert (await settle(saga_pool, [order_id]))[order_id] == ("CONFIRMED", None)

    charge_log = [o for st, _, o in await steps(saga_pool, order_id) if st == "CHARGE_PAYMENT"]
    assert charge_log == ["RETRY", "RETRY", "OK"]
    payments = await rows(saga_pool, "SELECT status FROM payment.payments WHERE order_id = %s",
                          order_id)
    assert [p["status"] for p in payments] == ["SUCCEEDED"]
    await check(worker, [order_id], [product])


async def test_unavailable_payment_opens_breaker_then_deadline_cancels(
        worker: Stack, saga_pool: AsyncConnectionPool) -> None:
    # Given a payment method whose gateway is always down and a 3-second saga deadline
    product = await worker.new_product(5)
    order_id = await place_order(saga_pool, [Line(product, 2)], method="pm_card_unavailable",
                                 deadline=3.0)
    worker.send(order_id)

    # Then the saga times out, the hold is released and nothing is charged
    result = await settle(saga_pool, [order_id], timeout=20)
    assert result[order_id] == ("CANCELLED", "PROCESSING_TIMEOUT")
    errors = await rows(saga_pool, "SELECT st.error FROM orders.saga_steps st JOIN orders.sagas"
                        " s USING (saga_id) WHERE s.order_id = %s AND st.step ="
                        " 'CHARGE_PAYMENT'", order_id)
    # five failures reached the gateway, then the breaker answered for it
    assert sum("BREAKER_OPEN" in (e["error"] or "") for e in errors) >= 1
    assert sum("UNAVAILABLE" in (e["error"] or "") for e in errors) >= 5
    stock = await worker.stock(product)
    assert (stock.on_hand, stock.reserved) == (5, 0)
    await check(worker, [order_id], [product])


async def test_hot_product_is_never_oversold(worker: Stack,
                                             saga_pool: AsyncConnectionPool) -> None:
    # Given 10 units and 40 concurrent one-unit orders
    product = await worker.new_product(10)
    orders = [await place_order(saga_pool, [Line(product, 1)]) for _ in range(40)]
    for order_id in orders:
        worker.send(order_id)

    result = await settle(saga_pool, orders, timeout=40)

    # Then exactly 10 are confirmed and the others cancelled for stock
    statuses = sorted(result.values(), key=str)
    assert statuses.count(("CONFIRMED", None)) == 10
    assert statuses.count(("CANCELLED", "OUT_OF_STOCK")) == 30
    stock = await worker.stock(product)
    assert (stock.on_hand, stock.reserved) == (0, 0)
    await check(worker, orders, [product])


async def _cancel(pool: AsyncConnectionPool, stack: Stack, order_id: str) -> None:
    """CancelOrder as the order API does it, then the relay's message."""
    from orchestrator.store import request_cancel

    async with pool.connection() as conn, conn.transaction():
        await request_cancel(conn, uuid.UUID(order_id), "CUSTOMER_CANCELLED")
    stack.send(order_id, "OrderCancelRequested")


async def test_cancel_before_and_during_the_saga_and_after_confirmation(
        worker: Stack, saga_pool: AsyncConnectionPool) -> None:
    product = await worker.new_product(10)
    # Before the saga starts: nothing is ever reserved or charged.
    early = await place_order(saga_pool, [Line(product, 1)])
    await _cancel(saga_pool, worker, early)
    worker.send(early)
    # While the payment is being retried: the hold is released, any charge refunded.
    retrying = await place_order(saga_pool, [Line(product, 2)], method="pm_card_unavailable")
    worker.send(retrying)
    await wait_until(lambda: _has_retry(saga_pool, retrying), 10, 0.02)
    await _cancel(saga_pool, worker, retrying)
    # After confirmation: too late, the order stays confirmed.
    late = await place_order(saga_pool, [Line(product, 1)])
    worker.send(late)
    await settle(saga_pool, [late])
    await _cancel(saga_pool, worker, late)

    result = await settle(saga_pool, [early, retrying, late])
    await asyncio.sleep(0.3)  # the late cancel message has been handled (a no-op)

    assert result[early] == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert result[retrying] == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert (await saga(saga_pool, late))["order_status"] == "CONFIRMED"
    assert [s for s, _, _ in await steps(saga_pool, early)] == [
        "SEND_CANCELLATION", "MARK_CANCELLED"]
    stock = await worker.stock(product)
    assert (stock.on_hand, stock.reserved) == (9, 0)
    await check(worker, [early, retrying, late], [product])


async def _has_retry(pool: AsyncConnectionPool, order_id: str) -> bool:
    return ("CHARGE_PAYMENT", "do", "RETRY") in await steps(pool, order_id)


async def test_cancel_after_stock_committed_restocks_and_refunds(
        stack: Stack, redis: Redis, saga_pool: AsyncConnectionPool) -> None:
    # Given a saga stopped dead right after COMMIT_STOCK (paid and sold)
    for key in await redis.keys(KEY_PREFIX + "*"):
        await redis.delete(key)
    product = await stack.new_product(10)
    order_id = await place_order(saga_pool, [Line(product, 3)])
    crashing = stack.ensure_worker(SAGA_CRASH_AFTER_STEP="COMMIT_STOCK")
    stack.send(order_id)
    await wait_until(_exited(crashing), 15)
    # When the customer cancels and a worker comes back
    await _cancel(saga_pool, stack, order_id)
    stack.start_worker()

    # Then the sale is undone: units back on hand, payment refunded, order cancelled
    result = await settle(saga_pool, [order_id], timeout=20)
    assert result[order_id] == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert [s for s, d, _ in await steps(saga_pool, order_id) if d == "undo"] == [
        "RESTOCK", "REFUND_PAYMENT", "RELEASE_STOCK", "SEND_CANCELLATION", "MARK_CANCELLED"]
    stock = await stack.stock(product)
    assert (stock.on_hand, stock.reserved) == (10, 0)
    await check(stack, [order_id], [product])


def _exited(proc):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return not proc.alive()
    return check


@pytest.mark.parametrize("step", ["RESERVE_STOCK", "CHARGE_PAYMENT", "COMMIT_STOCK",
                                  "SEND_CONFIRMATION", "RELEASE_STOCK"])
async def test_worker_killed_right_after_a_step_loses_nothing(
        step: str, stack: Stack, redis: Redis, saga_pool: AsyncConnectionPool) -> None:
    # Given a worker that SIGKILLs itself right after `step` commits, with orders in flight
    for key in await redis.keys(KEY_PREFIX + "*"):
        await redis.delete(key)
    product = await stack.new_product(10)
    orders = [await place_order(saga_pool, [Line(product, 1)], method=method)
              for method in ("pm_card_ok", "pm_card_flaky", "pm_card_declined")]
    crashing = stack.ensure_worker(SAGA_CRASH_AFTER_STEP=step)
    for order_id in orders:
        stack.send(order_id)
    await wait_until(_exited(crashing), 15)
    assert crashing.popen.returncode == -9

    # When a fresh worker starts
    stack.start_worker()

    # Then every order is terminal and every invariant holds
    result = await settle(saga_pool, orders, timeout=25)
    assert result[orders[0]] == ("CONFIRMED", None)
    assert result[orders[1]] == ("CONFIRMED", None)
    assert result[orders[2]] == ("CANCELLED", "PAYMENT_DECLINED")
    await check(stack, orders, [product])


async def test_redis_flushed_the_sweeper_recovers_every_saga(
        worker: Stack, redis: Redis, saga_pool: AsyncConnectionPool) -> None:
    product = await worker.new_product(20)
    # Given sagas in flight (flaky payments wait for delayed messages) ...
    in_flight = [await place_order(saga_pool, [Line(product, 1)], method="pm_card_flaky")
                 for _ in range(5)]
    for order_id in in_flight:
        worker.send(order_id)
    await wait_until(lambda: _has_retry(saga_pool, in_flight[0]), 10, 0.01)
    # ... and sagas whose messages never reached Redis
    never_sent = [await place_order(saga_pool, [Line(product, 1)]) for _ in range(3)]
    # When Redis loses everything
    await redis.flushdb()

    # Then the sweeper re-enqueues them and all complete
    result = await settle(saga_pool, in_flight + never_sent, timeout=25)
    assert {s for s, _ in result.values()} == {"CONFIRMED"}
    assert "sweeper re-enqueued overdue sagas" in worker.worker.text()  # type: ignore[union-attr]
    await check(worker, in_flight + never_sent, [product])


async def test_every_message_delivered_twice_repeats_no_side_effect(
        stack: Stack, redis: Redis, saga_pool: AsyncConnectionPool) -> None:
    for key in await redis.keys(KEY_PREFIX + "*"):
        await redis.delete(key)
    proc = stack.ensure_worker(SAGA_TEST_DUPLICATE_DELIVERY="1")
    product = await stack.new_product(10)
    orders = [await place_order(saga_pool, [Line(product, 1)], method=method)
              for method in ("pm_card_ok", "pm_card_ok", "pm_card_flaky", "pm_card_declined")]
    for order_id in orders:
        message_id = stack.send(order_id)
        stack.send(order_id, message_id=message_id)  # the relay re-sent it too

    result = await settle(saga_pool, orders)

    assert [result[o][0] for o in orders] == ["CONFIRMED"] * 3 + ["CANCELLED"]
    for order_id in orders:
        done = [(s, d) for s, d, out in await steps(saga_pool, order_id) if out == "OK"]
        assert len(done) == len(set(done)), f"a step ran twice for {order_id}: {done}"
    charges = await rows(saga_pool, "SELECT order_id, count(*) AS n FROM payment.payments"
                         " WHERE order_id = ANY(%s) GROUP BY order_id", orders)
    assert {r["n"] for r in charges} == {1}
    await check(stack, orders, [product])
    # The duplicates did arrive, and were turned away.
    metrics = await asyncio.to_thread(_scrape, proc.metrics_port)
    skipped = next(line for line in metrics.splitlines()
                   if line.startswith('saga_messages_total{result="skipped"}'))
    assert float(skipped.split()[-1]) >= 2 * len(orders)


async def test_poison_messages_land_in_dead_letters_without_stopping_others(
        worker: Stack, saga_pool: AsyncConnectionPool) -> None:
    product = await worker.new_product(10)
    # A malformed message, one for an unknown order and one whose saga state is corrupt.
    malformed = worker.send("", args=("not-an-order-id",))
    unknown = worker.send(str(uuid.uuid4()))
    corrupt_order = await place_order(saga_pool, [Line(product, 1)])
    async with saga_pool.connection() as conn:
        await conn.execute("UPDATE orders.sagas SET current_step = 'NO_SUCH_STEP'"
                           " WHERE order_id = %s", (corrupt_order,))
    corrupt = worker.send(corrupt_order)
    healthy = await place_order(saga_pool, [Line(product, 1)])
    worker.send(healthy)

    async def dead_lettered() -> bool:
        found = await rows(saga_pool, "SELECT message_id FROM orders.dead_letters"
                           " WHERE message_id = ANY(%s)", [malformed, unknown, corrupt])
        return len(found) == 3

    await wait_until(dead_lettered, 15)
    assert (await settle(saga_pool, [healthy]))[healthy] == ("CONFIRMED", None)
    letters = {r["message_id"]: r for r in await rows(
        saga_pool, "SELECT * FROM orders.dead_letters WHERE message_id = ANY(%s)",
        [malformed, unknown, corrupt])}
    assert letters[malformed]["attempts"] == 1  # never retried
    assert letters[unknown]["attempts"] == 3  # SAGA_MAX_RETRIES=2
    corrupt_saga = await saga(saga_pool, corrupt_order)
    assert letters[corrupt]["saga_id"] == corrupt_saga["saga_id"]
    assert corrupt_saga["paused"]  # the sweeper leaves it to an operator
    assert letters[corrupt]["message"]["args"] == [corrupt_order]


async def test_sigterm_finishes_in_flight_work_and_exits_cleanly(
        worker: Stack, saga_pool: AsyncConnectionPool) -> None:
    product = await worker.new_product(10)
    orders = [await place_order(saga_pool, [Line(product, 1)]) for _ in range(5)]
    for order_id in orders:
        worker.send(order_id)
    proc = worker.worker
    assert proc is not None
    await asyncio.sleep(0.05)

    proc.popen.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(proc.popen.wait, 15)

    assert code == 0
    assert "worker stopping" in proc.text()
    worker.start_worker()  # whatever was not started yet is still queued (or swept)
    result = await settle(saga_pool, orders)
    assert {s for s, _ in result.values()} == {"CONFIRMED"}
    await check(worker, orders, [product])
