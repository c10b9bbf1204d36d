"""Gateway settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.ratelimit import Rule
from svckit.config import ConfigError, Env
from svckit.db import database_url

DEFAULT_UPSTREAMS = (
    "shop.orders.v1.OrderService=localhost:50050,"
    "shop.inventory.v1.InventoryService=localhost:50051,"
    "shop.payment.v1.PaymentService=localhost:50052,"
    "shop.notify.v1.NotificationService=localhost:50053"
)


def parse_upstreams(items: list[str]) -> dict[str, str]:
    """'pkg.Service=host:port' items → {service: target}."""
    upstreams: dict[str, str] = {}
    for item in items:
        name, sep, target = item.partition("=")
        if not sep or not name.strip() or ":" not in target:
            raise ConfigError(f"GATEWAY_UPSTREAMS: {item!r} is not 'package.Service=host:port'")
        upstreams[name.strip()] = target.strip()
    return upstreams


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    upstreams: dict[str, str]
    proto_modules: tuple[str, ...]
    jwt_secret: str
    database_url: str
    redis_url: str
    cors_origins: tuple[str, ...]
    rate_limit: Rule
    login_rate_limit: Rule
    trust_forwarded: bool
    max_body_bytes: int
    upstream_timeout: float
    access_ttl: float
    refresh_ttl: float
    argon2_time_cost: int
    argon2_memory_kib: int
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Env(environ)
        secret = env.str("JWT_SECRET")
        if len(secret) < 32:
            raise ConfigError("JWT_SECRET must have at least 32 characters")
        try:
            rate = Rule.parse(env.str("GATEWAY_RATE_LIMIT", "600/1m"))
            login_rate = Rule.parse(env.str("GATEWAY_LOGIN_RATE_LIMIT", "10/1m"))
        except ValueError as exc:
            raise ConfigError(f"GATEWAY_RATE_LIMIT / GATEWAY_LOGIN_RATE_LIMIT: {exc}") from None
        return cls(
            host=env.str("GATEWAY_HOST", "0.0.0.0"),
            port=env.int("GATEWAY_HTTP_PORT", 8080),
            upstreams=parse_upstreams(env.list("GATEWAY_UPSTREAMS", DEFAULT_UPSTREAMS)),
            proto_modules=tuple(env.list("GATEWAY_PROTO_MODULES")),
            jwt_secret=secret,
            database_url=database_url(env, "GATEWAY"),
            redis_url=env.first(["GATEWAY_REDIS_URL", "REDIS_URL"], "redis://127.0.0.1:6379/0"),
            cors_origins=tuple(env.list("GATEWAY_CORS_ORIGINS")),
            rate_limit=rate,
            login_rate_limit=login_rate,
            trust_forwarded=env.bool("GATEWAY_TRUST_FORWARDED", False),
            max_body_bytes=env.int("GATEWAY_MAX_BODY_BYTES", 1024 * 1024),
            upstream_timeout=env.duration("GATEWAY_UPSTREAM_TIMEOUT", "30s"),
            access_ttl=env.duration("ACCESS_TOKEN_TTL", "15m"),
            refresh_ttl=env.duration("REFRESH_TOKEN_TTL", "7d"),
            argon2_time_cost=env.int("GATEWAY_ARGON2_TIME_COST", 3),
            argon2_memory_kib=env.int("GATEWAY_ARGON2_MEMORY_KIB", 65536),
            log_level=env.str("LOG_LEVEL", "INFO"),
        )
