"""Reads without the saga worker: outbox status, breakers, orders show, settings, exit codes,
and the installed console script run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from orchestrator.admin import repairs
from orchestrator.admin import store as st
from orchestrator.admin.config import AdminSettings
from orchestrator.saga.breaker import Breakers
from tests.cli.conftest import Cli
from tests.cli.support import audit, saga_row
from tests.saga.orders import Line, place_order

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


async def test_outbox_status(cli: Cli, pool: AsyncConnectionPool) -> None:
    relay_id, row_id = f"cli-test-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO orders.outbox (id, aggregate_id, event_type, created_at) VALUES"
            " (%s, %s, 'OrderPlaced', now() - interval '90 seconds')", (row_id, uuid.uuid4()))
        await conn.execute(
            "INSERT INTO orders.relay_heartbeats (relay_id, host, pid, last_batch_size,"
            " last_batch_at) VALUES (%s, 'h', 42, 7, now() - interval '3 seconds')",
            (relay_id,))
    try:
        ran = await cli("outbox", "status", "--json")
        assert ran.code == 0, ran.err
        data = ran.json
        assert data["backlog"] >= 1 and data["oldest_unsent_s"] >= 89
        [relay] = [r for r in data["relays"] if r["relay_id"] == relay_id]
        assert (relay["alive"], relay["last_batch_size"]) == (True, 7)
        assert data["relays_alive"] >= 1
        human = await cli("outbox", "status")
        assert "backlog:" in human.out and relay_id in human.out
    finally:
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM orders.outbox WHERE id = %s", (row_id,))
            await conn.execute("DELETE FROM orders.relay_heartbeats WHERE relay_id = %s",
                               (relay_id,))


async def test_breakers_list_and_reset(cli: Cli, redis: Redis,
                                       pool: AsyncConnectionPool) -> None:
    # Given the notify breaker opened by failures (as the workers record them)
    breakers = Breakers(redis, failures=1, open_seconds=60)
    before = await breakers.acquire("notify")
    await breakers.record("notify", failed=True, before=before)
    listed = await cli("breakers", "list", "--json")
    states = {b["name"]: b for b in listed.json["breakers"]}
    assert states["notify"]["state"] == "open" and states["notify"]["open_for_seconds"] > 50
    assert states["payment"]["state"] == "closed"

    dry = await cli("breakers", "reset", "notify", "--dry-run", "--json")
    assert dry.json["dry_run"] is True
    assert (await breakers.acquire("notify")).allowed is False  # still open

    reset = await cli("breakers", "reset", "notify", "--reason", "SMTP back", "--json")
    assert reset.code == 0 and (reset.json["before"], reset.json["after"]) == ("open", "closed")
    assert (await breakers.acquire("notify")).allowed is True
    entry = (await audit(pool, "notify"))[-1]
    assert (entry["verb"], entry["before_status"], entry["reason"]) == (
        "breakers reset", "open", "SMTP back")
    unknown = await cli("breakers", "reset", "nope")
    assert unknown.code == 3 and "nope" in unknown.err


async def test_orders_show(cli: Cli, pool: AsyncConnectionPool) -> None:
    order_id = await place_order(pool, [Line(str(uuid.uuid4()), 3, 250)])
    async with pool.connection() as conn:  # no worker's sweeper may drive it (no such stock)
        await conn.execute("UPDATE orders.sagas SET paused = true WHERE order_id = %s",
                           (order_id,))
    ran = await cli("orders", "show", order_id, "--json")
    assert ran.code == 0, ran.err
    assert (ran.json["order"]["status"], ran.json["order"]["total_minor"]) == ("PENDING", 750)
    assert ran.json["order"]["saga_status"] == "RUNNING"
    assert [i["quantity"] for i in ran.json["items"]] == [3]
    human = await cli("orders", "show", order_id)
    assert "7.50 EUR" in human.out and "RESERVE_STOCK" in human.out
    missing = await cli("orders", "show", str(uuid.uuid4()))
    assert missing.code == 3 and "no order" in missing.err
    # Finish it so no sweeper ever drives this order (it has no stock behind it)
    async with pool.connection() as conn:
        await conn.execute("UPDATE orders.sagas SET status = 'FAILED' WHERE order_id = %s",
                           (order_id,))


async def test_usage_and_unavailable(cli: Cli) -> None:
    bulk = await cli("sagas", "retry")
    assert bulk.code == 2 and "at least one filter" in bulk.err
    bad = await cli("sagas", "list", "--older-than", "soon")
    assert bad.code == 2
    no_reason = await cli("sagas", "compensate", str(uuid.uuid4()))
    assert no_reason.code == 2 and "--reason" in no_reason.err
    cli.env = {**cli.env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    down = await cli("sagas", "list", "--json")
    assert down.code == 6 and "PostgreSQL unreachable" in down.err
    assert "Traceback" not in down.err


async def test_group_help_has_examples_and_exit_codes(cli: Cli) -> None:
    for group in ("sagas", "dlq", "outbox", "breakers", "orders"):
        ran = await cli(group, "--help")
        assert ran.code == 0 and "examples:" in ran.out and "exit codes:" in ran.out, group


@pytest.mark.unit
def test_settings_fall_back_to_the_local_stack_env(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "stack.env").write_text(
        "DATABASE_URL=postgresql://u@127.0.0.1:5999/shop\nREDIS_URL=redis://127.0.0.1:6999/0\n"
        "JWT_SECRET=s3cret\n")
    monkeypatch.chdir(tmp_path)
    found = AdminSettings.from_env({"USER": "bob"})
    assert (found.database_url, found.redis_url, found.jwt_secret, found.actor) == (
        "postgresql://u@127.0.0.1:5999/shop", "redis://127.0.0.1:6999/0", "s3cret", "bob")
    # The processes' environment wins over the file
    env = {"DATABASE_URL": "postgresql://x/y", "ORDERS_DATABASE_URL": "postgresql://o/p"}
    assert AdminSettings.from_env(env).database_url == "postgresql://o/p"


def test_console_script_subprocess(database_url: str, redis_url: str, secret: str) -> None:
    script = ROOT / ".venv" / "bin" / "orchestrator"
    helped = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30,
                            cwd=ROOT)
    assert helped.returncode == 0
    assert "sagas" in helped.stdout and "admin exit codes" in helped.stdout
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "JWT_SECRET": secret}
    env.pop("ORDERS_DATABASE_URL", None)
    listed = subprocess.run([str(script), "breakers", "list", "--json"], capture_output=True,
                            text=True, timeout=30, cwd=ROOT, env=env)
    assert listed.returncode == 0, listed.stderr
    assert {b["name"] for b in json.loads(listed.stdout)["breakers"]} >= {
        "inventory", "payment", "notify"}


async def test_a_repair_loses_to_a_concurrent_change(cli: Cli, database_url: str,
                                                     pool: AsyncConnectionPool) -> None:
    # Given the CLI has read a saga, and a worker then advances it (its version moves)
    order_id = await place_order(pool, [Line(str(uuid.uuid4()), 1)])
    async with pool.connection() as conn:
        await conn.execute("UPDATE orders.sagas SET paused = true WHERE order_id = %s",
                           (order_id,))
    conn = await st.connect(database_url)
    try:
        seen = await st.find_saga(conn, order_id)
        assert seen is not None
        async with pool.connection() as other:
            await other.execute("UPDATE orders.sagas SET version = version + 1, attempt = 2"
                                " WHERE order_id = %s", (order_id,))
        # When the repair is applied on what it read
        plan = repairs.plan("resume", seen, None)
        applied = await st.try_change(conn, seen, plan.change, actor="t", verb="sagas resume",
                                      reason=None)
    finally:
        await conn.close()
    # Then it changes nothing and records nothing
    assert applied is None
    row = await saga_row(pool, order_id)
    assert (row["paused"], row["attempt"]) == (True, 2)
    assert await audit(pool, order_id) == []
    async with pool.connection() as c:
        await c.execute("UPDATE orders.sagas SET status = 'FAILED' WHERE order_id = %s",
                        (order_id,))

