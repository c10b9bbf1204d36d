"""Composition root: `python -m notify_svc` serves NotificationService on NOTIFY_GRPC_PORT."""

from __future__ import annotations

import logging

from psycopg_pool import AsyncConnectionPool

from notify_svc import servicer as servicer_module
from notify_svc.config import RetryPolicy, Settings
from notify_svc.domain import Channel
from notify_svc.handlers import Deliverer, Deps
from notify_svc.mail import RecordingMailer, SmtpMailer
from notify_svc.rendering import Renderer
from notify_svc.sms import SmsSimulator
from notify_svc.ssrf import AllowList
from notify_svc.webhook import WebhookSender
from svckit import db, grpcserver, logs, metrics, runtime

log = logging.getLogger("notify_svc")


def build_deps(settings: Settings, pool: AsyncConnectionPool) -> tuple[Deps, WebhookSender]:
    """The handlers' collaborators from settings (tests build theirs the same way)."""
    mailer: Deliverer
    if settings.email_mode == "smtp":
        mailer = SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            mail_from=settings.email_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        )
    else:
        mailer = RecordingMailer(pool, settings.email_from)
    webhook = WebhookSender(
        secret=settings.webhook_secret,
        allow=AllowList.parse(settings.webhook_allowlist),
        timeout=settings.webhook_timeout,
    )
    deps = Deps(
        pool=pool,
        renderer=Renderer(),
        channels={
            Channel.EMAIL: mailer,
            Channel.SMS: SmsSimulator(
                pool, rate_limit=settings.sms_rate_limit, rate_window=settings.sms_rate_window
            ),
            Channel.WEBHOOK: webhook,
        },
        policies={
            Channel.EMAIL: settings.email_retry,
            Channel.SMS: RetryPolicy(1, 0.0),  # the simulator's only transient is a rate limit
            Channel.WEBHOOK: settings.webhook_retry,
        },
        retry_after=settings.retry_after,
        lease=settings.delivery_lease,
        in_progress_wait=settings.in_progress_wait,
    )
    return deps, webhook


def service(settings: Settings, deps: Deps) -> grpcserver.Service:
    impl = servicer_module.NotificationServicer(deps)
    return grpcserver.Service(
        names=[servicer_module.SERVICE_NAME],
        register=lambda server: servicer_module.register(server, impl),
        probe=lambda: db.ping(deps.pool),
        secret=settings.jwt_secret,
    )


async def main() -> None:
    settings = Settings.from_env()
    logs.configure("notify", settings.log_level)
    metrics.serve_metrics(settings.metrics_port)
    pool = await db.open_pool(settings.database_url, name="notify")
    deps, webhook = build_deps(settings, pool)
    log.info("email mode", extra={"mode": settings.email_mode, "smtp_host": settings.smtp_host,
                                  "smtp_port": settings.smtp_port})
    try:
        await grpcserver.serve(service(settings, deps), f"0.0.0.0:{settings.grpc_port}")
    finally:
        await webhook.aclose()
        await pool.close()


if __name__ == "__main__":
    runtime.run(main())
