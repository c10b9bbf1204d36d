"""SMS channel: a provider simulator with segments, an opt-out list and a per-number rate limit."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from notify_svc import store
from notify_svc.domain import AttemptResult, DeliveryStatus, Notification, sms_segments


class SmsSimulator:
    """Behaves like a provider's API: records each accepted message with a provider id."""

    def __init__(self, pool: AsyncConnectionPool, *, rate_limit: int, rate_window: float) -> None:
        self._pool = pool
        self._limit = rate_limit
        self._window = rate_window

    async def deliver(self, n: Notification) -> AttemptResult:
        encoding = sms_segments(n.sms)
        verdict, value = await store.send_sms(
            self._pool,
            notification_id=n.notification_id,
            to_number=n.phone,
            body=n.sms,
            encoding=encoding.encoding,
            segments=encoding.segments,
            rate_limit=self._limit,
            rate_window=self._window,
        )
        if verdict == "opted_out":
            return AttemptResult.permanent(DeliveryStatus.SUPPRESSED, "number opted out of SMS")
        if verdict == "rate_limited":
            wait = float(value or 0.0)
            # Waiting out the window inside the call would hold the caller; it retries later.
            return AttemptResult.transient(
                f"rate limited: more than {self._limit} messages to this number per "
                f"{self._window:g}s", retry_now=False, retry_after=wait,
            )
        return AttemptResult.delivered(str(value))
