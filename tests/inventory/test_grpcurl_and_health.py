"""Real clients: grpcurl through server reflection; health following the database."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import servers
from inventory_svc.app import build_service
from inventory_svc.handlers import Inventory
from svckit import migrate
from svckit.db import open_pool, ping
from tests.inventory.conftest import InventoryClient
from tests.support import serving

pytestmark = pytest.mark.integration

GRPCURL = str(Path(sys.executable).parent / "grpcurl")


async def grpcurl(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        GRPCURL, "-plaintext", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_grpcurl_lists_describes_and_calls(client: InventoryClient) -> None:
    target = f"127.0.0.1:{client.port}"
    listed = (await grpcurl(target, "list")).split()
    assert {"shop.inventory.v1.InventoryService", "grpc.health.v1.Health"} <= set(listed)
    assert any(name.startswith("grpc.reflection.") for name in listed)
    described = await grpcurl(target, "describe", "shop.inventory.v1.InventoryService.GetStock")
    assert "/api/v1/products/{product_id}/stock" in described
    pid = await client.new_product(stock=4)
    reply = json.loads(
        await grpcurl(
            "-d",
            json.dumps({"product_id": pid}),
            target,
            "shop.inventory.v1.InventoryService/GetStock",
        )
    )
    assert reply["stock"].get("onHand", reply["stock"].get("on_hand")) == 4


async def test_health_follows_the_database(secret: str) -> None:
    # Given a service on its own PostgreSQL server
    tmp = Path(tempfile.mkdtemp(prefix="shop-health-"))
    pg = servers.EmbeddedPostgres(tmp / "data", servers.free_port(), fast_unsafe=True)
    url = pg.start()
    await asyncio.to_thread(migrate.upgrade, "inventory_svc", url)
    pool = await open_pool(url, name="health-test", min_size=1, max_size=2, timeout=1)
    await pool.wait()
    service = build_service(pool, Inventory(pool), secret)
    from svckit.grpcserver import watch_health

    watcher = asyncio.create_task(watch_health(service, interval=0.2))
    try:
        async with serving(service) as (channel, _):
            health = health_pb2_grpc.HealthStub(channel)

            async def status() -> int:
                reply = await health.Check(
                    health_pb2.HealthCheckRequest(service="shop.inventory.v1.InventoryService")
                )
                return int(reply.status)

            async def wait_for(expected: int) -> None:
                for _ in range(100):
                    if await status() == expected:
                        return
                    await asyncio.sleep(0.1)
                raise AssertionError(f"health never became {expected}")

            await wait_for(health_pb2.HealthCheckResponse.SERVING)
            # When the database goes away
            await asyncio.to_thread(pg.stop)
            await wait_for(health_pb2.HealthCheckResponse.NOT_SERVING)
            # Then calls that need it fail as UNAVAILABLE, and health recovers with it
            await asyncio.to_thread(pg.start)
            await wait_for(health_pb2.HealthCheckResponse.SERVING)
            assert await ping(pool)
    finally:
        watcher.cancel()
        await pool.close()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def test_database_outage_is_unavailable_not_internal(secret: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shop-outage-"))
    pg = servers.EmbeddedPostgres(tmp / "data", servers.free_port(), fast_unsafe=True)
    url = pg.start()
    await asyncio.to_thread(migrate.upgrade, "inventory_svc", url)
    pool = await open_pool(url, name="outage-test", min_size=1, max_size=2, timeout=1)
    await pool.wait()
    service = build_service(pool, Inventory(pool), secret)
    try:
        async with serving(service) as (channel, _):
            from shop.inventory.v1 import inventory_pb2 as pb
            from shop.inventory.v1 import inventory_pb2_grpc as pb_grpc

            await asyncio.to_thread(pg.stop)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await pb_grpc.InventoryServiceStub(channel).ListProducts(
                    pb.ListProductsRequest(), timeout=10
                )
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await pool.close()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
