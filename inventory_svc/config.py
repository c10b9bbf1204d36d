"""Inventory settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from svckit.config import Env
from svckit.db import database_url


@dataclass(frozen=True)
class Settings:
    database_url: str
    jwt_secret: str
    grpc_port: int
    metrics_port: int
    reservation_ttl_seconds: float
    reaper_interval_seconds: float
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Env(environ)
        return cls(
            database_url=database_url(env, "INVENTORY"),
            jwt_secret=env.str("JWT_SECRET"),
            grpc_port=env.int("INVENTORY_GRPC_PORT", 50051),
            metrics_port=env.int("INVENTORY_METRICS_PORT", 9151),
            reservation_ttl_seconds=env.duration("INVENTORY_RESERVATION_TTL", "15m"),
            reaper_interval_seconds=env.duration("INVENTORY_REAPER_INTERVAL", "5s"),
            log_level=env.str("LOG_LEVEL", "INFO"),
        )
