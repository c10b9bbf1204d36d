"""Order API fixtures: a real inventory server and a real OrderService server, both on port 0."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import grpc
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from shop.common.v1 import money_pb2
from shop.inventory.v1 import inventory_pb2 as inv_pb
from shop.inventory.v1 import inventory_pb2_grpc as inv_grpc
from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc as pb_grpc

from inventory_svc.app import build_service as build_inventory
from inventory_svc.handlers import Inventory
from orchestrator.api import build_service
from orchestrator.catalog import Catalog
from orchestrator.handlers import Orders
from orchestrator.watch import StatusFeed
from svckit.clients import ServiceToken
from svckit.db import open_pool
from tests.support import bearer, serving

Metadata = list[tuple[str, str]]


@dataclass
class OrdersHarness:
    stub: pb_grpc.OrderServiceStub
    inventory: inv_grpc.InventoryServiceStub
    pool: AsyncConnectionPool
    orders: Orders
    feed: StatusFeed
    secret: str

    def customer(self, subject: str = "", **claims: str) -> Metadata:
        claims.setdefault("email", "buyer@example.com")
        return bearer(self.secret, "customer", subject or f"cust-{uuid.uuid4().hex[:10]}",
                      **claims)

    def admin(self) -> Metadata:
        return bearer(self.secret, "admin", "admin-1")

    async def product(self, price: int = 1250, *, active: bool = True,
                      currency: str = "EUR") -> str:
        reply = await self.inventory.CreateProduct(
            inv_pb.CreateProductRequest(
                sku=f"O-{uuid.uuid4().hex[:12]}", name="Order test product",
                price=money_pb2.Money(currency_code=currency, amount_minor=price),
                initial_stock=100, active=active,
            ),
            metadata=self.admin(),
        )
        return str(reply.product.product_id)

    async def create(self, md: Metadata, *items: tuple[str, int], key: str = "",
                     **fields: str) -> pb.CreateOrderResponse:
        metadata = [*md, ("idempotency-key", key)] if key else md
        request = pb.CreateOrderRequest(
            items=[pb.OrderLine(product_id=p, quantity=q) for p, q in items], **fields
        )
        reply: pb.CreateOrderResponse = await self.stub.CreateOrder(request, metadata=metadata)
        return reply

    async def fetch(self, sql: str, *params: object) -> list[dict[str, object]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return list(await cur.fetchall())


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def orders_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(database_url, name="orders-test", max_size=20)
    await pool.wait()
    yield pool
    await pool.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def harness(orders_pool: AsyncConnectionPool, database_url: str,
                  secret: str) -> AsyncIterator[OrdersHarness]:
    inventory = build_inventory(orders_pool, Inventory(orders_pool), secret)
    async with serving(inventory) as (inv_channel, _):
        catalog = Catalog(inv_channel, ServiceToken(secret, "orders-api"), ttl=2.0)
        orders = Orders(orders_pool, catalog, saga_deadline=600.0)
        feed = StatusFeed(orders_pool, database_url, poll_interval=1.0)
        async with serving(build_service(orders_pool, orders, feed, secret)) as (channel, _):
            yield OrdersHarness(
                stub=pb_grpc.OrderServiceStub(channel),
                inventory=inv_grpc.InventoryServiceStub(inv_channel),
                pool=orders_pool, orders=orders, feed=feed, secret=secret,
            )
        await feed.stop()


async def rpc_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error a call fails with (the test fails if it succeeds)."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the call succeeded")

