"""Email channel: MIME building, SMTP delivery (aiosmtplib) or recording in the database."""

from __future__ import annotations

import asyncio
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib
from psycopg_pool import AsyncConnectionPool

from notify_svc import store
from notify_svc.domain import AttemptResult, DeliveryStatus, Notification


def build_message(n: Notification, mail_from: str) -> EmailMessage:
    """Subject + text and HTML alternatives; the Message-ID is stable per notification so a
    resend after a lost reply can be recognised as the same message by the receiver."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    message = EmailMessage()
    message["Subject"] = n.subject
    message["From"] = mail_from
    message["To"] = Address(addr_spec=n.email)
    message["Date"] = formatdate(n.create_time, usegmt=True)
    message["Message-ID"] = f"<{n.notification_id}@{domain}>"
    message["X-Notification-Id"] = n.notification_id
    message["X-Order-Id"] = n.order_id
    message.set_content(n.text)
    message.add_alternative(n.html, subtype="html")
    message["Content-Language"] = n.locale  # after set_content, which drops Content-* headers
    return message


def classify(exc: Exception) -> AttemptResult:
    """aiosmtplib errors -> our outcomes, in one place: 5xx bounces, 4xx and network retry."""
    code = getattr(exc, "code", None)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        code = min(r.code for r in exc.recipients)
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Our credentials, not the recipient: fixable by an operator, so not a bounce.
        return AttemptResult.transient(detail)
    if isinstance(code, int) and 500 <= code < 600:
        return AttemptResult.permanent(DeliveryStatus.BOUNCED, detail)
    if isinstance(code, int) and 400 <= code < 500:
        return AttemptResult.transient(detail)
    if isinstance(exc, OSError | asyncio.TimeoutError | aiosmtplib.SMTPServerDisconnected
                  | aiosmtplib.SMTPConnectError | aiosmtplib.SMTPTimeoutError):
        return AttemptResult.transient(detail)
    return AttemptResult.permanent(DeliveryStatus.FAILED, detail)


class SmtpMailer:
    """Sends through a real SMTP server."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        mail_from: str,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._from = mail_from
        self._username = username or None
        self._password = password or None
        self._starttls = starttls
        self._timeout = timeout

    async def deliver(self, n: Notification) -> AttemptResult:
        message = build_message(n, self._from)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._starttls,
                timeout=self._timeout,
            )
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            return classify(exc)
        return AttemptResult.delivered(str(message["Message-ID"]))


class RecordingMailer:
    """The development default: stores the rendered message, touches no network."""

    def __init__(self, pool: AsyncConnectionPool, mail_from: str) -> None:
        self._pool = pool
        self._from = mail_from

    async def deliver(self, n: Notification) -> AttemptResult:
        message = build_message(n, self._from)
        message_id = str(message["Message-ID"])
        await store.record_email(
            self._pool, n.notification_id, message_id, self._from, n.email, n.subject,
            message.as_string(),
        )
        return AttemptResult.delivered(message_id)
