"""Settings of the payment service, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from payment_svc import simulator
from svckit.config import ConfigError, Env
from svckit.db import database_url


def _range(key: str, text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        bounds = (int(low), int(high) if sep else int(low))
    except ValueError:
        raise ConfigError(f"{key}={text!r} is not a range of milliseconds like 100-2000") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise ConfigError(f"{key}={text!r}: need 0 <= low <= high")
    return bounds


@dataclass(frozen=True)
class Settings:
    database_url: str
    jwt_secret: str
    grpc_port: int = 50052
    metrics_port: int = 9152
    log_level: str = "INFO"
    simulator_mode: str = simulator.DETERMINISTIC
    random_seed: int | None = None
    latency_ms: int = 0
    random_latency_ms: tuple[int, int] = (100, 2000)
    fraud_threshold_minor: int = 1_000_000
    velocity_limit_per_minute: int = 10
    attempt_lease_seconds: float = 30.0
    transient_retry_after_seconds: float = 0.5
    pool_max_size: int = 10

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Env(environ)
        mode = env.str("PAYMENT_SIMULATOR_MODE", simulator.DETERMINISTIC).lower()
        if mode not in (simulator.DETERMINISTIC, simulator.RANDOM):
            raise ConfigError(f"PAYMENT_SIMULATOR_MODE={mode!r}: use deterministic or random")
        seed = env.get("PAYMENT_RANDOM_SEED")
        latency = env.int("PAYMENT_LATENCY_MS", 0)
        if latency < 0:
            raise ConfigError("PAYMENT_LATENCY_MS must be >= 0")
        settings = cls(
            database_url=database_url(env, "PAYMENT"),
            jwt_secret=env.str("JWT_SECRET"),
            grpc_port=env.int("PAYMENT_GRPC_PORT", 50052),
            metrics_port=env.int("PAYMENT_METRICS_PORT", 9152),
            log_level=env.str("LOG_LEVEL", "INFO"),
            simulator_mode=mode,
            random_seed=env.int("PAYMENT_RANDOM_SEED", 0) if seed is not None else None,
            latency_ms=latency,
            random_latency_ms=_range(
                "PAYMENT_RANDOM_LATENCY_MS", env.str("PAYMENT_RANDOM_LATENCY_MS", "100-2000")
            ),
            fraud_threshold_minor=env.int("PAYMENT_FRAUD_THRESHOLD_MINOR", 1_000_000),
            velocity_limit_per_minute=env.int("PAYMENT_VELOCITY_LIMIT_PER_MINUTE", 10),
            attempt_lease_seconds=env.duration("PAYMENT_ATTEMPT_LEASE", "30s"),
            transient_retry_after_seconds=env.duration("PAYMENT_TRANSIENT_RETRY_AFTER", "500ms"),
            pool_max_size=env.int("PAYMENT_DB_POOL_SIZE", 10),
        )
        slowest = max(latency, settings.random_latency_ms[1]) / 1000.0
        if settings.attempt_lease_seconds <= slowest:
            # Else a live attempt would be taken for a dead one and its outcome thrown away.
            raise ConfigError(
                f"PAYMENT_ATTEMPT_LEASE ({settings.attempt_lease_seconds}s) must exceed the "
                f"longest simulated latency ({slowest}s)"
            )
        return settings

    def simulator(self) -> simulator.Simulator:
        return simulator.Simulator(
            mode=self.simulator_mode,
            seed=self.random_seed,
            latency_ms=self.latency_ms,
            random_latency_ms=self.random_latency_ms,
            fraud_threshold_minor=self.fraud_threshold_minor,
        )
