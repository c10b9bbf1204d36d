"""Helpers for the admin CLI tests: waiting on sagas, audit rows, stopping a service."""

from __future__ import annotations

import asyncio
from typing import Any

from psycopg_pool import AsyncConnectionPool

from devstack.servers import wait_for_port
from tests.saga.orders import row, rows
from tests.saga.stack import Proc, Stack, wait_until

TERMINAL = ("COMPLETED", "COMPENSATED", "FAILED")


async def saga_row(pool: AsyncConnectionPool, order_id: str) -> dict[str, Any]:
    return await row(pool, "SELECT s.*, o.status AS order_status, o.cancel_reason AS"
                     " order_reason FROM orders.sagas s JOIN orders.orders o USING (order_id)"
                     " WHERE s.order_id = %s", order_id)


async def settle(pool: AsyncConnectionPool, order_id: str, timeout: float = 15.0
                 ) -> dict[str, Any]:
    """Waits until the saga is finished; its row."""
    found: dict[str, Any] = {}

    async def done() -> bool:
        found.update(await saga_row(pool, order_id))
        return found["status"] in TERMINAL and not found["lease_token"]

    await wait_until(done, timeout)
    return found


async def audit(pool: AsyncConnectionPool, target_or_order: str) -> list[dict[str, Any]]:
    return await rows(pool, "SELECT * FROM orders.admin_audit WHERE target = %s"
                      " OR order_id::text = %s ORDER BY id", target_or_order, target_or_order)


async def steps(pool: AsyncConnectionPool, order_id: str) -> list[tuple[str, str, str]]:
    found = await rows(pool, "SELECT step, direction, outcome FROM orders.saga_steps st"
                       " JOIN orders.sagas s USING (saga_id) WHERE s.order_id = %s"
                       " ORDER BY st.id", order_id)
    return [(r["step"], r["direction"], r["outcome"]) for r in found]


SERVICE_ENV = {
    "payment": {"PAYMENT_METRICS_PORT": "0", "PAYMENT_LATENCY_MS": "0",
                "PAYMENT_TRANSIENT_RETRY_AFTER": "50ms"},
}


def stop_service(stack: Stack, name: str) -> None:
    for proc in [p for p in stack.procs if p.name == name]:
        proc.stop()
        stack.procs.remove(proc)


async def start_service(stack: Stack, name: str) -> None:
    """Starts the service again on its port (as the saga suite's Stack does)."""
    env = {f"{name.upper()}_GRPC_PORT": str(stack.ports[name]), **SERVICE_ENV[name]}
    proc = Proc(name, ["-m", f"{name}_svc"], stack._env(env), stack.log_dir)
    stack.procs.append(proc)
    await asyncio.to_thread(wait_for_port, stack.ports[name], 30, proc.popen)
