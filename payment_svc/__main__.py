"""Composition root: `python -m payment_svc` serves PaymentService on PAYMENT_GRPC_PORT."""

from __future__ import annotations

import logging

from payment_svc.app import build_service
from payment_svc.config import Settings
from svckit import logs, runtime
from svckit.db import open_pool
from svckit.grpcserver import serve
from svckit.metrics import serve_metrics

log = logging.getLogger("payment_svc")


async def main() -> None:
    settings = Settings.from_env()
    logs.configure("payment", settings.log_level)
    serve_metrics(settings.metrics_port)
    pool = await open_pool(settings.database_url, name="payment", max_size=settings.pool_max_size)
    log.info(
        "simulator configured",
        extra={
            "mode": settings.simulator_mode,
            "seed": settings.random_seed,
            "latency_ms": settings.latency_ms,
            "random_latency_ms": list(settings.random_latency_ms),
            "velocity_limit_per_minute": settings.velocity_limit_per_minute,
        },
    )
    try:
        await serve(build_service(pool, settings), f"0.0.0.0:{settings.grpc_port}")
    finally:
        await pool.close()


if __name__ == "__main__":
    runtime.run(main())
