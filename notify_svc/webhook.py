"""Webhook channel: signed JSON POST to the order's callback URL through the SSRF guard."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlsplit

import httpx

from notify_svc.domain import AttemptResult, DeliveryStatus, Notification, webhook_signature
from notify_svc.ssrf import AddressRefused, AllowList, HostUnresolved, resolve_target

USER_AGENT = "shop-notify/1"


def payload(n: Notification) -> bytes:
    """The JSON body: the event, the order and what the templates were given."""
    body = {
        "event": n.template,
        "notification_id": n.notification_id,
        "idempotency_key": n.idempotency_key,
        "order_id": n.order_id,
        "locale": n.locale,
        "subject": n.subject,
        "variables": n.variables,
        "items": n.items,
        "created_at": int(n.create_time),
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


class WebhookSender:
    """One shared AsyncClient; redirects are never followed (they would bypass the guard)."""

    def __init__(
        self,
        *,
        secret: str,
        allow: AllowList,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._secret = secret
        self._allow = allow
        self._client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, transport=transport, trust_env=False
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def deliver(self, n: Notification) -> AttemptResult:
        parts = urlsplit(n.callback_url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            address = await resolve_target(host, port, self._allow)
        except AddressRefused as exc:
            return AttemptResult.permanent(DeliveryStatus.FAILED, f"refused: {exc}")
        except HostUnresolved as exc:
            return AttemptResult.transient(str(exc))
        body = payload(n)
        timestamp = str(int(time.time()))
        delivery_id = "wh_" + uuid.uuid4().hex
        # Connect to the checked address; Host and TLS SNI still name the original host.
        pinned = httpx.URL(n.callback_url).copy_with(host=address)
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        headers = {
            "Host": parts.netloc,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Timestamp": timestamp,
            "X-Signature": webhook_signature(self._secret, timestamp, body),
            "X-Notification-Id": n.notification_id,
            "X-Webhook-Id": delivery_id,
        }
        try:
            response = await self._client.post(
                pinned, content=body, headers=headers, extensions=extensions
            )
        except httpx.TimeoutException as exc:
            return AttemptResult.transient(f"timeout: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return AttemptResult.transient(f"{type(exc).__name__}: {exc}")
        code = response.status_code
        if 200 <= code < 300:
            return AttemptResult.delivered(delivery_id)
        if code >= 500:
            return AttemptResult.transient(f"HTTP {code}")
        if 300 <= code < 400:
            return AttemptResult.permanent(DeliveryStatus.FAILED, f"HTTP {code}: redirects are "
                                           "not followed")
        return AttemptResult.permanent(DeliveryStatus.FAILED, f"HTTP {code}")
