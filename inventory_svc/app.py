"""Wiring of the inventory service: pool, use cases, servicer, gRPC service description."""

from __future__ import annotations

import asyncio
import logging

from psycopg_pool import AsyncConnectionPool
from shop.inventory.v1 import inventory_pb2_grpc

from inventory_svc.config import Settings
from inventory_svc.handlers import Inventory
from inventory_svc.servicer import PUBLIC_METHODS, SERVICE_NAME, InventoryServicer
from svckit.db import ping
from svckit.grpcserver import Service

log = logging.getLogger(__name__)


def build_service(pool: AsyncConnectionPool, inventory: Inventory, secret: str) -> Service:
    servicer = InventoryServicer(inventory)
    return Service(
        names=[SERVICE_NAME],
        register=lambda server: inventory_pb2_grpc.add_InventoryServiceServicer_to_server(
            servicer, server
        ),
        probe=lambda: ping(pool),
        secret=secret,
        public_methods=PUBLIC_METHODS,
    )


async def reap_forever(inventory: Inventory, settings: Settings) -> None:
    """Releases expired holds every interval; survives database outages."""
    while True:
        try:
            while await inventory.reap_expired() > 0:
                pass
        except Exception as exc:
            log.warning("reaper pass failed", extra={"error": str(exc)})
        await asyncio.sleep(settings.reaper_interval_seconds)
