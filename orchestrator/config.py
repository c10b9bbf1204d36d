"""Settings of the order API and the outbox relay, read once from the environment."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from svckit.config import Env
from svckit.db import database_url


@dataclass(frozen=True)
class ApiSettings:
    database_url: str
    jwt_secret: str
    grpc_port: int
    metrics_port: int
    inventory_addr: str
    catalog_cache_ttl: float
    catalog_timeout: float
    saga_deadline: float
    idempotency_retention: float
    default_payment_method: str
    pool_size: int
    watch_poll_interval: float
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        env = Env(environ)
        return cls(
            database_url=database_url(env, "ORDERS"),
            jwt_secret=env.str("JWT_SECRET"),
            grpc_port=env.int("ORDERS_GRPC_PORT", 50050),
            metrics_port=env.int("ORDERS_METRICS_PORT", 9150),
            inventory_addr=env.str("INVENTORY_ADDR", "localhost:50051"),
            catalog_cache_ttl=env.duration("ORDERS_CATALOG_CACHE_TTL", "2s"),
            catalog_timeout=env.duration("ORDERS_CATALOG_TIMEOUT", "2s"),
            saga_deadline=env.duration("ORDERS_SAGA_DEADLINE", "10m"),
            idempotency_retention=env.duration("ORDERS_IDEMPOTENCY_RETENTION", "24h"),
            default_payment_method=env.str("ORDERS_DEFAULT_PAYMENT_METHOD", "pm_card_ok"),
            pool_size=env.int("ORDERS_DB_POOL_SIZE", 10),
            watch_poll_interval=env.duration("ORDERS_WATCH_POLL_INTERVAL", "1s"),
            log_level=env.str("LOG_LEVEL", "INFO"),
        )


@dataclass(frozen=True)
class RelaySettings:
    database_url: str
    redis_url: str
    metrics_port: int
    relay_id: str
    queue_name: str
    batch_size: int
    poll_interval: float
    retention: float
    heartbeat_interval: float
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RelaySettings:
        env = Env(environ)
        return cls(
            database_url=database_url(env, "ORDERS"),
            redis_url=env.str("REDIS_URL", "redis://localhost:6379/0"),
            metrics_port=env.int("RELAY_METRICS_PORT", 9160),
            relay_id=env.str("RELAY_ID", f"{socket.gethostname()}:{os.getpid()}"),
            queue_name=env.str("RELAY_QUEUE", "saga"),
            batch_size=env.int("RELAY_BATCH_SIZE", 100),
            poll_interval=env.duration("RELAY_POLL_INTERVAL", "1s"),
            retention=env.duration("RELAY_RETENTION", "7d"),
            heartbeat_interval=env.duration("RELAY_HEARTBEAT_INTERVAL", "5s"),
            log_level=env.str("LOG_LEVEL", "INFO"),
        )
