"""Composition root of `orchestrator api`: pool, catalog client, use cases, OrderService server."""

from __future__ import annotations

import asyncio
import logging

from psycopg_pool import AsyncConnectionPool
from shop.orders.v1 import orders_pb2_grpc

from orchestrator.catalog import Catalog
from orchestrator.config import ApiSettings
from orchestrator.handlers import Orders
from orchestrator.servicer import SERVICE_NAME, OrderServicer
from orchestrator.watch import StatusFeed
from svckit import logs, runtime
from svckit.clients import ServiceToken, channel
from svckit.db import open_pool, ping
from svckit.grpcserver import Service, serve
from svckit.metrics import serve_metrics

log = logging.getLogger(__name__)

KEY_PURGE_INTERVAL = 600.0


def build_service(pool: AsyncConnectionPool, orders: Orders, feed: StatusFeed,
                  secret: str) -> Service:
    servicer = OrderServicer(orders, feed)
    return Service(
        names=[SERVICE_NAME],
        register=lambda server: orders_pb2_grpc.add_OrderServiceServicer_to_server(
            servicer, server
        ),
        probe=lambda: ping(pool),
        secret=secret,
    )


async def purge_keys_forever(orders: Orders, retention: float) -> None:
    """Forgets idempotency keys older than the retention; survives database outages."""
    while True:
        try:
            purged = await orders.purge_keys(retention)
            if purged:
                log.info("idempotency keys purged", extra={"count": purged})
        except Exception as exc:  # try again next interval
            log.warning("idempotency key purge failed", extra={"error": str(exc)})
        await asyncio.sleep(KEY_PURGE_INTERVAL)


async def serve_api(settings: ApiSettings) -> None:
    logs.configure("orders-api", settings.log_level)
    serve_metrics(settings.metrics_port)
    pool = await open_pool(settings.database_url, name="orders-api", max_size=settings.pool_size)
    inventory = channel(settings.inventory_addr)
    catalog = Catalog(inventory, ServiceToken(settings.jwt_secret, "orders-api"),
                      ttl=settings.catalog_cache_ttl, timeout=settings.catalog_timeout)
    orders = Orders(pool, catalog, saga_deadline=settings.saga_deadline,
                    default_payment_method=settings.default_payment_method)
    feed = StatusFeed(pool, settings.database_url, poll_interval=settings.watch_poll_interval)
    service = build_service(pool, orders, feed, settings.jwt_secret)
    try:
        await serve(
            service, f"0.0.0.0:{settings.grpc_port}",
            background=[lambda: purge_keys_forever(orders, settings.idempotency_retention)],
        )
    finally:
        await feed.stop()
        await inventory.close()
        await pool.close()


def main() -> int:
    runtime.run(serve_api(ApiSettings.from_env()))
    return 0
