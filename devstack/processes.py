"""Every process of the platform as the launcher starts it (docker-compose.yml mirrors this)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Process:
    """One supervised child: its command, the environment names it reads, its ports."""

    name: str
    argv: list[str]
    env_names: list[str] = field(default_factory=list)
    grpc_port: int | None = None
    http_port: int | None = None
    metrics_port: int | None = None


COMMON_ENV = ["DATABASE_URL", "REDIS_URL", "JWT_SECRET", "LOG_LEVEL"]

PROCESSES: list[Process] = [
    Process(
        name="inventory",
        argv=["python", "-m", "inventory_svc"],
        env_names=[*COMMON_ENV, "INVENTORY_GRPC_PORT", "INVENTORY_METRICS_PORT"],
        grpc_port=50051,
        metrics_port=9151,
    ),
]
