"""Notification service settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from svckit.config import ConfigError, Env
from svckit.db import database_url

EMAIL_MODES = ("record", "smtp")


@dataclass(frozen=True)
class RetryPolicy:
    """In-service retries of one channel: attempts per Send call, first delay (then doubling)."""

    max_attempts: int
    backoff: float

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (0-based): backoff, 2x, 4x, ..."""
        return float(self.backoff * (2**retry))


@dataclass(frozen=True)
class Settings:
    database_url: str
    jwt_secret: str
    grpc_port: int = 50053
    metrics_port: int = 9153
    log_level: str = "INFO"
    email_mode: str = "record"
    email_from: str = "Shop <orders@shop.example.com>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout: float = 10.0
    email_retry: RetryPolicy = RetryPolicy(3, 0.5)
    webhook_secret: str = "dev-webhook-secret-change-me"
    webhook_allowlist: tuple[str, ...] = ()
    webhook_timeout: float = 5.0
    webhook_retry: RetryPolicy = RetryPolicy(4, 0.5)
    sms_rate_limit: int = 5
    sms_rate_window: float = 60.0
    retry_after: float = 30.0
    delivery_lease: float = 120.0
    in_progress_wait: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Env(environ)
        mode = env.str("NOTIFY_EMAIL_MODE", "record").lower()
        if mode not in EMAIL_MODES:
            raise ConfigError(f"NOTIFY_EMAIL_MODE={mode!r} must be one of {', '.join(EMAIL_MODES)}")
        return cls(
            database_url=database_url(env, "NOTIFY"),
            jwt_secret=env.str("JWT_SECRET"),
            grpc_port=env.int("NOTIFY_GRPC_PORT", 50053),
            metrics_port=env.int("NOTIFY_METRICS_PORT", 9153),
            log_level=env.str("LOG_LEVEL", "INFO"),
            email_mode=mode,
            email_from=env.str("NOTIFY_EMAIL_FROM", "Shop <orders@shop.example.com>"),
            smtp_host=env.str("NOTIFY_SMTP_HOST", "127.0.0.1"),
            smtp_port=env.int("NOTIFY_SMTP_PORT", 1025),
            smtp_username=env.str("NOTIFY_SMTP_USERNAME", ""),
            smtp_password=env.str("NOTIFY_SMTP_PASSWORD", ""),
            smtp_starttls=env.bool("NOTIFY_SMTP_STARTTLS", False),
            smtp_timeout=env.duration("NOTIFY_SMTP_TIMEOUT", "10s"),
            email_retry=RetryPolicy(
                _positive(env, "NOTIFY_EMAIL_MAX_ATTEMPTS", 3),
                env.duration("NOTIFY_EMAIL_BACKOFF", "500ms"),
            ),
            webhook_secret=env.str("NOTIFY_WEBHOOK_SECRET", "dev-webhook-secret-change-me"),
            webhook_allowlist=tuple(env.list("NOTIFY_WEBHOOK_ALLOWLIST")),
            webhook_timeout=env.duration("NOTIFY_WEBHOOK_TIMEOUT", "5s"),
            webhook_retry=RetryPolicy(
                _positive(env, "NOTIFY_WEBHOOK_MAX_ATTEMPTS", 4),
                env.duration("NOTIFY_WEBHOOK_BACKOFF", "500ms"),
            ),
            sms_rate_limit=_positive(env, "NOTIFY_SMS_RATE_LIMIT", 5),
            sms_rate_window=env.duration("NOTIFY_SMS_RATE_WINDOW", "1m"),
            retry_after=env.duration("NOTIFY_RETRY_AFTER", "30s"),
            delivery_lease=env.duration("NOTIFY_DELIVERY_LEASE", "2m"),
            in_progress_wait=env.duration("NOTIFY_IN_PROGRESS_WAIT", "30s"),
        )


def _positive(env: Env, key: str, default: int) -> int:
    value = env.int(key, default)
    if value < 1:
        raise ConfigError(f"{key}={value} must be at least 1")
    return value
