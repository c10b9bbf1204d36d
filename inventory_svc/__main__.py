"""Composition root: `python -m inventory_svc` serves InventoryService on INVENTORY_GRPC_PORT."""

from __future__ import annotations

from inventory_svc.app import build_service, reap_forever
from inventory_svc.config import Settings
from inventory_svc.handlers import Inventory
from svckit import logs, runtime
from svckit.db import open_pool
from svckit.grpcserver import serve
from svckit.metrics import serve_metrics


async def main() -> None:
    settings = Settings.from_env()
    logs.configure("inventory", settings.log_level)
    serve_metrics(settings.metrics_port)
    pool = await open_pool(settings.database_url, name="inventory", max_size=10)
    inventory = Inventory(pool, default_ttl_seconds=settings.reservation_ttl_seconds)
    service = build_service(pool, inventory, settings.jwt_secret)
    try:
        await serve(
            service,
            f"0.0.0.0:{settings.grpc_port}",
            background=[lambda: reap_forever(inventory, settings)],
        )
    finally:
        await pool.close()


if __name__ == "__main__":
    runtime.run(main())
