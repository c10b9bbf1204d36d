"""Repair verbs against sagas put in their state by real runs: the worker process, inventory,
payment and notify processes, PostgreSQL and Redis. Each asserts the `--json` output and the
effect on the system, and that the audit table recorded the repair."""

from __future__ import annotations

import asyncio
import time

import pytest
from psycopg_pool import AsyncConnectionPool

from tests.cli.conftest import WORKER, Cli, Ran
from tests.cli.support import audit, saga_row, settle, start_service, steps, stop_service
from tests.saga.orders import Line, place_order
from tests.saga.stack import Stack, wait_until

pytestmark = pytest.mark.integration


async def test_pause_holds_a_saga_until_resumed(worker: tuple[Stack, Cli],
                                                 pool: AsyncConnectionPool) -> None:
    stack, cli = worker
    product = await stack.new_product(5)
    order_id = await place_order(pool, [Line(product, 1)])

    # Given a paused saga whose message arrives
    paused = await cli("sagas", "pause", order_id, "--reason", "investigating", "--json")
    assert paused.code == 0, paused.err
    [result] = paused.json["results"]
    assert (result["outcome"], result["before"], result["after"]) == ("done", "RUNNING", "RUNNING")
    stack.send(order_id)
    # When the worker and the sweeper (grace 1 s, every 0.3 s) have had their chance
    await asyncio.sleep(2.0)
    # Then nothing ran
    saga = await saga_row(pool, order_id)
    assert (saga["paused"], saga["order_status"]) == (True, "PENDING")
    assert await steps(pool, order_id) == []

    # A second pause, and a retry of a paused saga, are refused and change nothing
    again = await cli("sagas", "pause", order_id)
    assert again.code == 4 and "already paused" in again.err
    retry = await cli("sagas", "retry", order_id)
    assert retry.code == 4 and "sagas resume" in retry.err
    assert (await saga_row(pool, order_id))["version"] == saga["version"]

    # It shows up as stuck once overdue, and a bulk --dry-run selects it without changing it
    async with pool.connection() as conn:
        await conn.execute("UPDATE orders.sagas SET updated_at = now() - interval '1 hour'"
                           " WHERE order_id = %s", (order_id,))
    stuck = await cli("sagas", "list", "--stuck", "--older-than", "1s", "--json")
    assert order_id in [s["order_id"] for s in stuck.json["sagas"]]
    dry = await cli("sagas", "resume", "--stuck", "--order", order_id, "--dry-run", "--json")
    assert dry.code == 0 and dry.json["dry_run"] is True
    assert [(r["order_id"], r["outcome"]) for r in dry.json["results"]] == [(order_id, "would")]
    assert (await saga_row(pool, order_id))["paused"] is True

    # When resumed (bulk form, by the order filter), it runs to the end at once
    resumed = await cli("sagas", "resume", "--order", order_id, "--actor", "alice", "--json")
    assert resumed.code == 0, resumed.err
    assert resumed.json["results"][0]["enqueued"] is True
    assert (await settle(pool, order_id))["order_status"] == "CONFIRMED"

    not_paused = await cli("sagas", "resume", order_id)
    assert not_paused.code == 4 and "not paused" in not_paused.err
    trail = await audit(pool, order_id)
    assert [(a["verb"], a["actor"], a["before_status"], a["after_status"]) for a in trail] == [
        ("sagas pause", "cli-test", "RUNNING", "RUNNING (paused)"),
        ("sagas resume", "alice", "RUNNING (paused)", "RUNNING"),
    ]
    assert trail[0]["reason"] == "investigating"


async def test_declined_card_refusals_and_show(worker: tuple[Stack, Cli],
                                               pool: AsyncConnectionPool) -> None:
    stack, cli = worker
    product = await stack.new_product(5, 700)
    order_id = await place_order(pool, [Line(product, 2, 700)], method="pm_card_declined")
    stack.send(order_id)
    saga = await settle(pool, order_id)
    assert (saga["status"], saga["order_reason"]) == ("COMPENSATED", "PAYMENT_DECLINED")

    # Retry and compensate of a finished saga are refused, naming the reason
    retry = await cli("sagas", "retry", order_id, "--json")
    assert retry.code == 4
    assert "COMPENSATED" in retry.err and "nothing to retry" in retry.err
    assert retry.json["results"][0]["outcome"] == "refused"
    comp = await cli("sagas", "compensate", order_id, "--reason", "x")
    assert comp.code == 4 and "already compensated" in comp.err
    bulk = await cli("sagas", "fail", "--status", "COMPENSATED", "--order", order_id,
                     "--reason", "x", "--json")
    assert bulk.code == 4 and bulk.json["results"][0]["outcome"] == "refused"
    assert (await saga_row(pool, order_id))["version"] == saga["version"]
    assert await audit(pool, order_id) == []

    # show: the order, the timeline, and what the services hold, read over gRPC
    shown = await cli("sagas", "show", order_id, "--json")
    assert shown.code == 0, shown.err
    data = shown.json
    assert data["order"]["total_minor"] == 1400 and data["items"][0]["quantity"] == 2
    timeline = [(s["step"], s["direction"], s["outcome"]) for s in data["steps"]]
    assert ("CHARGE_PAYMENT", "do", "FAILED") in timeline
    assert ("RELEASE_STOCK", "undo", "OK") in timeline
    assert all(s["duration_ms"] >= 0 for s in data["steps"])
    assert data["unavailable"] == {}
    assert [p["status"] for p in data["payments"]] == ["PAYMENT_STATUS_DECLINED"]
    assert data["reservation"]["status"] == "RESERVATION_STATUS_RELEASED"
    assert data["notifications"][0]["template"]
    # The same by saga id, in human form
    human = await cli("sagas", "show", str(saga["saga_id"]))
    assert human.code == 0 and "CHARGE_PAYMENT" in human.out and "DECLINED" in human.out


async def test_payment_down_retry_fail_and_retry_of_failed(worker: tuple[Stack, Cli],
                                                           pool: AsyncConnectionPool) -> None:
    stack, cli = worker
    product = await stack.new_product(10)
    # Given the payment service is down when two orders arrive
    stop_service(stack, "payment")
    try:
        first = await place_order(pool, [Line(product, 1)])
        second = await place_order(pool, [Line(product, 1)])
        for order_id in (first, second):
            stack.send(order_id)

        async def waiting() -> bool:
            for o in (first, second):
                if (("CHARGE_PAYMENT", "do", "RETRY") not in await steps(pool, o)
                        or (await saga_row(pool, o))["lease_token"]):
                    return False
            return True

        await wait_until(waiting, 15)
        listed = await cli("sagas", "list", "--status", "running", "--order", first, "--json")
        [item] = listed.json["sagas"]
        assert (item["current_step"], item["attempt"]) == ("CHARGE_PAYMENT", 1)
        assert "UNAVAILABLE" in item["last_error"]

        # show says which part is unavailable and shows the rest
        shown = await cli("sagas", "show", first, "--json")
        assert shown.code == 0
        assert set(shown.json["unavailable"]) == {"payments"}
        assert shown.json["reservation"]["status"] == "RESERVATION_STATUS_HELD"
        human = await cli("sagas", "show", first)
        assert "payments: unavailable" in human.out and "Traceback" not in human.err

        # --dry-run changes nothing
        before = await saga_row(pool, first)
        dry = await cli("sagas", "retry", "--order", first, "--dry-run", "--json")
        assert dry.json["results"][0]["outcome"] == "would"
        after = await saga_row(pool, first)
        assert (after["version"], after["attempt"], after["next_attempt_at"]) == (
            before["version"], before["attempt"], before["next_attempt_at"])

        # fail: FAILED for manual handling, the order too
        failed = await cli("sagas", "fail", second, "--reason", "PSP incident", "--json")
        assert failed.code == 0 and failed.json["results"][0]["after"] == "FAILED"
        second_row = await saga_row(pool, second)
        assert (second_row["status"], second_row["order_status"]) == ("FAILED", "FAILED")
    finally:
        await start_service(stack, "payment")

    # When retried, with payment back, it completes without waiting for its backoff (~20 s).
    # (The worker's channel may still be in its reconnect backoff: the operator retries again.)
    retried = await retry_until_confirmed(cli, pool, first, "--reason", "payment back")
    assert retried.json["results"][0]["enqueued"] is True
    # A FAILED saga's retry resumes it where it stopped
    again = await retry_until_confirmed(cli, pool, second)
    assert again.json["results"][0]["before"] in ("FAILED", "RUNNING")

    done = await cli("sagas", "retry", first)
    assert done.code == 4 and "COMPLETED" in done.err
    assert {(a["verb"], a["before_status"], a["after_status"]) for a in
            await audit(pool, first)} == {("sagas retry", "RUNNING", "RUNNING")}
    trail = [(a["verb"], a["before_status"], a["after_status"], a["reason"])
             for a in await audit(pool, second)]
    assert trail[:2] == [("sagas fail", "RUNNING", "FAILED", "PSP incident"),
                         ("sagas retry", "FAILED", "RUNNING", None)]


async def retry_until_confirmed(cli: Cli, pool: AsyncConnectionPool, order_id: str,
                                *extra: str) -> Ran:
    for _ in range(8):
        ran = await cli("sagas", "retry", order_id, "--json", *extra)
        assert ran.code in (0, 5), ran.err  # 5: a worker is on it right now
        try:
            saga = await settle(pool, order_id, 2.5)
        except AssertionError:
            continue
        assert saga["order_status"] == "CONFIRMED"
        return ran
    raise AssertionError(f"saga of {order_id} never completed: {await saga_row(pool, order_id)}")


async def test_compensate_refunds_and_releases(worker: tuple[Stack, Cli],
                                               pool: AsyncConnectionPool) -> None:
    stack, cli = worker
    product = await stack.new_product(5)
    order_id = await place_order(pool, [Line(product, 2)])
    # Given a worker killed right after the charge (the saga is paid, its stock still held)
    stack.stop_worker()
    crashing = await asyncio.to_thread(stack.start_worker, SAGA_CRASH_AFTER_STEP="CHARGE_PAYMENT",
                                       **WORKER)
    stack.send(order_id)
    await wait_until(lambda: asyncio.sleep(0, not crashing.alive()), 15, 0.02)
    stack.worker = None
    saga = await saga_row(pool, order_id)
    assert saga["current_step"] == "COMMIT_STOCK"

    # While its lease runs, the CLI does not touch it
    lease_left = (saga["lease_until"].timestamp() - time.time()) if saga["lease_until"] else 0
    if lease_left > 0.7:
        busy = await cli("sagas", "compensate", order_id, "--reason", "customer phoned")
        assert busy.code == 5 and "worker" in busy.err
    await asyncio.sleep(max(lease_left, 0) + 0.1)

    comp = await cli("sagas", "compensate", order_id, "--reason", "customer phoned", "--json")
    assert comp.code == 0, comp.err
    assert comp.json["results"][0]["after"] == "COMPENSATING"
    await asyncio.to_thread(stack.start_worker, **WORKER)

    saga = await settle(pool, order_id)
    assert (saga["status"], saga["order_status"], saga["order_reason"]) == (
        "COMPENSATED", "CANCELLED", "OPERATOR_CANCELLED")
    stock = await stack.stock(product)
    assert (stock.on_hand, stock.reserved) == (5, 0)
    shown = (await cli("sagas", "show", order_id, "--json")).json
    assert [p["status"] for p in shown["payments"]] == ["PAYMENT_STATUS_REFUNDED"]
    assert shown["reservation"]["status"] == "RESERVATION_STATUS_RELEASED"
    assert [(r["verb"], r["reason"]) for r in shown["repairs"]] == [
        ("sagas compensate", "customer phoned")]
