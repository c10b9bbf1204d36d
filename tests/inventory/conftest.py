"""Inventory fixtures: a pool on the session database and a real server on port 0."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from shop.common.v1 import money_pb2
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc as pb_grpc

from inventory_svc.app import build_service
from inventory_svc.handlers import Inventory
from svckit.db import open_pool
from tests.support import bearer, serving


@dataclass
class InventoryClient:
    stub: pb_grpc.InventoryServiceStub
    admin: list[tuple[str, str]]
    service: list[tuple[str, str]]
    customer: list[tuple[str, str]]
    port: int

    async def new_product(self, stock: int = 10, *, active: bool = True, price: int = 1000) -> str:
        reply = await self.stub.CreateProduct(
            pb.CreateProductRequest(
                sku=f"T-{uuid.uuid4().hex[:12]}",
                name="Test product",
                description="for tests",
                price=money_pb2.Money(currency_code="EUR", amount_minor=price),
                initial_stock=stock,
                active=active,
            ),
            metadata=self.admin,
        )
        return str(reply.product.product_id)

    async def stock(self, product_id: str) -> pb.Stock:
        reply = await self.stub.GetStock(pb.GetStockRequest(product_id=product_id))
        return reply.stock


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def inventory_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(database_url, name="inventory-test", max_size=20)
    await pool.wait()
    yield pool
    await pool.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def inventory(inventory_pool: AsyncConnectionPool) -> Inventory:
    return Inventory(inventory_pool)


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def client(
    inventory_pool: AsyncConnectionPool, inventory: Inventory, secret: str
) -> AsyncIterator[InventoryClient]:
    service = build_service(inventory_pool, inventory, secret)
    async with serving(service) as (channel, port):
        yield InventoryClient(
            stub=pb_grpc.InventoryServiceStub(channel),
            admin=bearer(secret, "admin"),
            service=bearer(secret, "service", "orchestrator"),
            customer=bearer(secret, "customer"),
            port=port,
        )
