"""Saga worker settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from svckit.config import ConfigError, Env
from svckit.db import database_url


@dataclass(frozen=True)
class WorkerSettings:
    """Everything `python -m orchestrator worker` reads; see the README's saga section."""

    database_url: str
    redis_url: str
    jwt_secret: str
    inventory_addr: str = "localhost:50051"
    payment_addr: str = "localhost:50052"
    notify_addr: str = "localhost:50053"
    metrics_port: int = 9161
    log_level: str = "INFO"
    threads: int = 8
    worker_timeout_ms: int = 100
    shutdown_grace: float = 30.0
    # Dramatiq delivery limits.
    max_retries: int = 5
    min_backoff_ms: int = 1_000
    max_backoff_ms: int = 60_000
    time_limit_ms: int = 120_000
    max_age_ms: int = 3_600_000
    heartbeat_timeout_ms: int = 15_000
    maintenance_chance: int = 1_000
    # Saga timing.
    saga_deadline: float = 600.0
    call_timeout: float = 5.0
    lease: float = 30.0
    backoff_scale: float = 1.0
    # Breakers.
    breaker_failures: int = 5
    breaker_open: float = 30.0
    breaker_cache: float = 0.5
    # Sweeper.
    sweep_interval: float = 5.0
    sweep_grace: float = 5.0
    sweep_batch: int = 500
    # Test-only fault injection.
    crash_after_step: str | None = None
    duplicate_delivery: bool = False

    def __post_init__(self) -> None:
        # A step (a refund is two calls) must finish inside the lease, or a second worker could
        # take the saga over while the first is still calling.
        if self.lease <= 2 * self.call_timeout:
            raise ConfigError(f"SAGA_LEASE ({self.lease}s) must exceed twice SAGA_CALL_TIMEOUT"
                              f" ({self.call_timeout}s)")
        if self.threads < 1:
            raise ConfigError("WORKER_THREADS must be at least 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        env = Env(environ)
        return cls(
            database_url=database_url(env, "ORDERS"),
            redis_url=env.str("REDIS_URL", "redis://localhost:6379/0"),
            jwt_secret=env.str("JWT_SECRET"),
            inventory_addr=env.str("INVENTORY_ADDR", "localhost:50051"),
            payment_addr=env.str("PAYMENT_ADDR", "localhost:50052"),
            notify_addr=env.str("NOTIFY_ADDR", "localhost:50053"),
            metrics_port=env.int("WORKER_METRICS_PORT", 9161),
            log_level=env.str("LOG_LEVEL", "INFO"),
            threads=env.int("WORKER_THREADS", 8),
            worker_timeout_ms=env.int("WORKER_TIMEOUT_MS", 100),
            shutdown_grace=env.duration("WORKER_SHUTDOWN_GRACE", "30s"),
            max_retries=env.int("SAGA_MAX_RETRIES", 5),
            min_backoff_ms=int(env.duration("SAGA_MIN_BACKOFF", "1s") * 1000),
            max_backoff_ms=int(env.duration("SAGA_MAX_BACKOFF", "60s") * 1000),
            time_limit_ms=int(env.duration("SAGA_TIME_LIMIT", "120s") * 1000),
            max_age_ms=int(env.duration("SAGA_MESSAGE_MAX_AGE", "1h") * 1000),
            heartbeat_timeout_ms=int(env.duration("DRAMATIQ_HEARTBEAT_TIMEOUT", "15s") * 1000),
            maintenance_chance=env.int("DRAMATIQ_MAINTENANCE_CHANCE", 1_000),
            saga_deadline=env.duration("SAGA_DEADLINE", "10m"),
            call_timeout=env.duration("SAGA_CALL_TIMEOUT", "5s"),
            lease=env.duration("SAGA_LEASE", "30s"),
            backoff_scale=env.float("SAGA_BACKOFF_SCALE", 1.0),
            breaker_failures=env.int("BREAKER_FAILURES", 5),
            breaker_open=env.duration("BREAKER_OPEN", "30s"),
            breaker_cache=env.duration("BREAKER_LOCAL_CACHE", "500ms"),
            sweep_interval=env.duration("SWEEP_INTERVAL", "5s"),
            sweep_grace=env.duration("SWEEP_GRACE", "5s"),
            sweep_batch=env.int("SWEEP_BATCH", 500),
            crash_after_step=env.get("SAGA_CRASH_AFTER_STEP"),
            duplicate_delivery=env.bool("SAGA_TEST_DUPLICATE_DELIVERY", False),
        )
