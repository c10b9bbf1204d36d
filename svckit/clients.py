"""Outgoing gRPC: channels and the service token a process presents to the others."""

from __future__ import annotations

import time

import grpc

from svckit import auth, logs


class ServiceToken:
    """A `service`-role access token for this process, renewed well before it expires."""

    def __init__(self, secret: str, subject: str, ttl_seconds: float = 3600.0) -> None:
        self._secret = secret
        self._subject = subject
        self._ttl = ttl_seconds
        self._token = ""
        self._renew_at = 0.0

    def value(self) -> str:
        now = time.time()
        if now >= self._renew_at:
            self._token = auth.issue_token(
                self._secret, self._subject, "service", ttl_seconds=self._ttl, now=now
            )
            self._renew_at = now + self._ttl / 2
        return self._token

    def metadata(self, **extra: str) -> list[tuple[str, str]]:
        """Call metadata: the bearer token, the current request id and any extras."""
        pairs = [("authorization", f"Bearer {self.value()}")]
        rid = logs.request_id.get()
        if rid:
            pairs.append(("x-request-id", rid))
        pairs.extend(extra.items())
        return pairs


def channel(target: str) -> grpc.aio.Channel:
    """An insecure channel with keepalive and retries of connection-level failures off."""
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.enable_retries", 0),
            ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ],
    )
