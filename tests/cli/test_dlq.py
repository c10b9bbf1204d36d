"""Dead letters: a real poison-ish message (an order whose saga row did not exist yet) fails
past its delivery limits, lands in orders.dead_letters, and a redrive completes it."""

from __future__ import annotations

import time
import uuid

import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from tests.cli.conftest import Cli
from tests.cli.support import audit, settle
from tests.saga.orders import rows
from tests.saga.stack import Stack, wait_until

pytestmark = pytest.mark.integration


async def _order_without_saga(pool: AsyncConnectionPool, product_id: str) -> str:
    order_id = uuid.uuid4()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO orders.orders (order_id, customer_id, status, currency, total_minor,"
            " payment_method, locale, contact_email) VALUES (%s, 'cust-dlq', 'PENDING', 'EUR',"
            " 1000, 'pm_card_ok', 'en', 'dlq@example.com')", (order_id,))
        await conn.execute(
            "INSERT INTO orders.order_items (order_id, product_id, sku, name, unit_price_minor,"
            " quantity, line_total_minor) VALUES (%s, %s, 'SKU-0', 'Item', 1000, 1, 1000)",
            (order_id, product_id))
    return str(order_id)


async def test_dead_letter_list_show_redrive(worker: tuple[Stack, Cli],
                                             pool: AsyncConnectionPool) -> None:
    stack, cli = worker
    product = await stack.new_product(3)
    # Given a message for an order whose saga row is missing (SagaNotFound, retried, then dead)
    order_id = await _order_without_saga(pool, product)
    stack.send(order_id)

    async def dead() -> bool:
        return bool(await rows(pool, "SELECT id FROM orders.dead_letters WHERE order_id = %s",
                               order_id))

    await wait_until(dead, 15)
    listed = await cli("dlq", "list", "--pending", "--order", order_id, "--json")
    [letter] = listed.json["dead_letters"]
    assert "SagaNotFound" in letter["error"] and letter["attempts"] >= 1
    shown = await cli("dlq", "show", letter["id"], "--json")
    assert shown.json["dead_letter"]["message"]["args"] == [order_id]
    human = await cli("dlq", "list", "--order", order_id)
    assert letter["id"] in human.out

    # --dry-run changes nothing
    dry = await cli("dlq", "redrive", "--all", "--dry-run", "--json")
    assert (letter["id"], "would") in [(r["id"], r["outcome"]) for r in dry.json["results"]]
    [still] = await rows(pool, "SELECT redriven_at FROM orders.dead_letters WHERE id = %s",
                         letter["id"])
    assert still["redriven_at"] is None

    # When the saga row is restored and the letter redriven, the order completes
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO orders.sagas (saga_id, order_id, deadline_at)"
                           " VALUES (%s, %s, now() + interval '10 minutes')",
                           (uuid.uuid4(), order_id))
    red = await cli("dlq", "redrive", letter["id"], "--reason", "saga row restored", "--json")
    assert red.code == 0, red.err
    [result] = red.json["results"]
    assert result["outcome"] == "done" and result["new_message_id"] != letter["message_id"]
    assert (await settle(pool, order_id))["order_status"] == "CONFIRMED"

    again = await cli("dlq", "redrive", letter["id"])
    assert again.code == 4 and "already redriven" in again.err
    [entry] = await audit(pool, letter["id"])
    assert (entry["verb"], entry["reason"], str(entry["order_id"])) == (
        "dlq redrive", "saga row restored", order_id)
    missing = await cli("dlq", "show", str(uuid.uuid4()))
    assert missing.code == 3


async def test_purge(cli: Cli, pool: AsyncConnectionPool) -> None:
    old_id = uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO orders.dead_letters (id, message_id, order_id, queue_name, actor_name,"
            " message, error, attempts, created_at) VALUES (%s, 'm-old', 'not-an-order', 'saga',"
            " 'advance_saga', %s, 'PoisonMessage: not an order id', 1,"
            " now() - interval '400 days')", (old_id, Jsonb({"args": ["not-an-order"]})))
    refused = await cli("dlq", "purge", "--older-than", "365d")
    assert refused.code == 2 and "--yes" in refused.err
    dry = await cli("dlq", "purge", "--older-than", "365d", "--dry-run", "--json")
    assert dry.json["count"] == 1
    purged = await cli("dlq", "purge", "--older-than", "365d", "--yes", "--json")
    assert purged.code == 0 and purged.json["count"] == 1
    assert await rows(pool, "SELECT id FROM orders.dead_letters WHERE id = %s", old_id) == []
    assert (await audit(pool, "dead_letters"))[-1]["details"]["deleted"] == 1




async def test_redrive_all_at_a_limited_rate(cli: Cli, pool: AsyncConnectionPool) -> None:
    # Given three dead letters of one (unknown) order, poison messages all
    tag = f"cli-rate-{uuid.uuid4().hex[:8]}"
    async with pool.connection() as conn:
        for _ in range(3):
            await conn.execute(
                "INSERT INTO orders.dead_letters (id, message_id, order_id, queue_name,"
                " actor_name, message, error, attempts) VALUES (%s, %s, %s, 'saga',"
                " 'advance_saga', %s, 'PoisonMessage', 1)",
                (uuid.uuid4(), uuid.uuid4().hex, tag,
                 Jsonb({"queue_name": "saga", "actor_name": "advance_saga", "args": [tag],
                        "kwargs": {"event": "OrderPlaced"}, "message_id": "x"})))
    started = time.monotonic()
    ran = await cli("dlq", "redrive", "--all", "--order", tag, "--rate", "10/s", "--json")
    elapsed = time.monotonic() - started
    assert ran.code == 0, ran.err
    assert [r["outcome"] for r in ran.json["results"]] == ["done"] * 3
    assert elapsed >= 0.2  # two gaps of 1/10 s
    left = await rows(pool, "SELECT id FROM orders.dead_letters WHERE order_id = %s"
                      " AND redriven_at IS NULL AND error = 'PoisonMessage'", tag)
    assert left == []
