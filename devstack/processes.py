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
    # Values the local launcher sets for this child (on top of the shared ones).
    env: dict[str, str] = field(default_factory=dict)


COMMON_ENV = ["DATABASE_URL", "REDIS_URL", "JWT_SECRET", "LOG_LEVEL"]

PROCESSES: list[Process] = [
    Process(
        name="inventory",
        argv=["python", "-m", "inventory_svc"],
        env_names=[*COMMON_ENV, "INVENTORY_GRPC_PORT", "INVENTORY_METRICS_PORT"],
        grpc_port=50051,
        metrics_port=9151,
    ),
    Process(
        name="orders-api",
        argv=["python", "-m", "orchestrator", "api"],
        env_names=[
            *COMMON_ENV,
            "ORDERS_DATABASE_URL",
            "ORDERS_GRPC_PORT",
            "ORDERS_METRICS_PORT",
            "INVENTORY_ADDR",
            "ORDERS_CATALOG_CACHE_TTL",
            "ORDERS_CATALOG_TIMEOUT",
            "ORDERS_SAGA_DEADLINE",
            "ORDERS_IDEMPOTENCY_RETENTION",
            "ORDERS_DEFAULT_PAYMENT_METHOD",
            "ORDERS_DB_POOL_SIZE",
            "ORDERS_WATCH_POLL_INTERVAL",
        ],
        grpc_port=50050,
        metrics_port=9150,
    ),
    Process(
        name="relay",
        argv=["python", "-m", "orchestrator", "relay"],
        env_names=[
            *COMMON_ENV,
            "ORDERS_DATABASE_URL",
            "RELAY_METRICS_PORT",
            "RELAY_ID",
            "RELAY_QUEUE",
            "RELAY_BATCH_SIZE",
            "RELAY_POLL_INTERVAL",
            "RELAY_RETENTION",
            "RELAY_HEARTBEAT_INTERVAL",
        ],
        metrics_port=9160,
    ),
    Process(
        name="payment",
        argv=["python", "-m", "payment_svc"],
        env_names=[
            *COMMON_ENV,
            "PAYMENT_DATABASE_URL",
            "PAYMENT_GRPC_PORT",
            "PAYMENT_METRICS_PORT",
            "PAYMENT_SIMULATOR_MODE",
            "PAYMENT_RANDOM_SEED",
            "PAYMENT_LATENCY_MS",
            "PAYMENT_RANDOM_LATENCY_MS",
            "PAYMENT_FRAUD_THRESHOLD_MINOR",
            "PAYMENT_VELOCITY_LIMIT_PER_MINUTE",
            "PAYMENT_ATTEMPT_LEASE",
            "PAYMENT_TRANSIENT_RETRY_AFTER",
            "PAYMENT_DB_POOL_SIZE",
        ],
        grpc_port=50052,
        metrics_port=9152,
    ),
    Process(
        name="mailsink",
        argv=["python", "-m", "notify_svc.smtp_sink"],
        env_names=[
            "LOG_LEVEL",
            "NOTIFY_MAILSINK_HOST",
            "NOTIFY_MAILSINK_PORT",
            "NOTIFY_MAILSINK_DIR",
        ],
        env={"NOTIFY_MAILSINK_PORT": "1025", "NOTIFY_MAILSINK_DIR": ".data/mail"},
    ),
    Process(
        name="notify",
        argv=["python", "-m", "notify_svc"],
        env_names=[
            *COMMON_ENV,
            "NOTIFY_DATABASE_URL",
            "NOTIFY_GRPC_PORT",
            "NOTIFY_METRICS_PORT",
            "NOTIFY_EMAIL_MODE",
            "NOTIFY_EMAIL_FROM",
            "NOTIFY_SMTP_HOST",
            "NOTIFY_SMTP_PORT",
            "NOTIFY_SMTP_USERNAME",
            "NOTIFY_SMTP_PASSWORD",
            "NOTIFY_SMTP_STARTTLS",
            "NOTIFY_SMTP_TIMEOUT",
            "NOTIFY_EMAIL_MAX_ATTEMPTS",
            "NOTIFY_EMAIL_BACKOFF",
            "NOTIFY_WEBHOOK_SECRET",
            "NOTIFY_WEBHOOK_ALLOWLIST",
            "NOTIFY_WEBHOOK_TIMEOUT",
            "NOTIFY_WEBHOOK_MAX_ATTEMPTS",
            "NOTIFY_WEBHOOK_BACKOFF",
            "NOTIFY_SMS_RATE_LIMIT",
            "NOTIFY_SMS_RATE_WINDOW",
            "NOTIFY_RETRY_AFTER",
            "NOTIFY_DELIVERY_LEASE",
            "NOTIFY_IN_PROGRESS_WAIT",
        ],
        grpc_port=50053,
        metrics_port=9153,
        # The demo sends real SMTP to the mailsink above; webhooks may target local receivers.
        env={
            "NOTIFY_EMAIL_MODE": "smtp",
            "NOTIFY_SMTP_HOST": "127.0.0.1",
            "NOTIFY_SMTP_PORT": "1025",
            "NOTIFY_WEBHOOK_ALLOWLIST": "127.0.0.0/8,::1,localhost",
        },
    ),
    Process(
        name="worker",
        argv=["python", "-m", "orchestrator", "worker"],
        env_names=[
            *COMMON_ENV,
            "ORDERS_DATABASE_URL",
            "INVENTORY_ADDR",
            "PAYMENT_ADDR",
            "NOTIFY_ADDR",
            "WORKER_METRICS_PORT",
            "WORKER_THREADS",
            "WORKER_TIMEOUT_MS",
            "WORKER_SHUTDOWN_GRACE",
            "SAGA_MAX_RETRIES",
            "SAGA_MIN_BACKOFF",
            "SAGA_MAX_BACKOFF",
            "SAGA_TIME_LIMIT",
            "SAGA_MESSAGE_MAX_AGE",
            "DRAMATIQ_HEARTBEAT_TIMEOUT",
            "DRAMATIQ_MAINTENANCE_CHANCE",
            "SAGA_DEADLINE",
            "SAGA_CALL_TIMEOUT",
            "SAGA_LEASE",
            "SAGA_BACKOFF_SCALE",
            "BREAKER_FAILURES",
            "BREAKER_OPEN",
            "BREAKER_LOCAL_CACHE",
            "SWEEP_INTERVAL",
            "SWEEP_GRACE",
            "SWEEP_BATCH",
        ],
        metrics_port=9161,
    ),
    Process(
        name="gateway",
        argv=["python", "-m", "gateway"],
        env_names=[
            *COMMON_ENV,
            "GATEWAY_DATABASE_URL",
            "GATEWAY_REDIS_URL",
            "GATEWAY_HOST",
            "GATEWAY_HTTP_PORT",
            "GATEWAY_UPSTREAMS",
            "GATEWAY_PROTO_MODULES",
            "GATEWAY_CORS_ORIGINS",
            "GATEWAY_RATE_LIMIT",
            "GATEWAY_LOGIN_RATE_LIMIT",
            "GATEWAY_TRUST_FORWARDED",
            "GATEWAY_MAX_BODY_BYTES",
            "GATEWAY_UPSTREAM_TIMEOUT",
            "ACCESS_TOKEN_TTL",
            "REFRESH_TOKEN_TTL",
            "GATEWAY_ARGON2_TIME_COST",
            "GATEWAY_ARGON2_MEMORY_KIB",
        ],
        http_port=8080,
    ),
]
