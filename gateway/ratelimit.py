"""Per-client fixed-window rate limits shared by every gateway replica through Redis."""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
import redis.exceptions

log = logging.getLogger(__name__)

_RULE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|m|h)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600}

# One round trip: count this request in the window, start the window's expiry on first use.
_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@dataclass(frozen=True)
class Rule:
    """`limit` requests per `window` seconds; limit 0 means no limit."""

    limit: int
    window: int

    @classmethod
    def parse(cls, text: str) -> Rule:
        """'600/1m', '10/m', '5/30s', or '0' (off)."""
        if text.strip() == "0":
            return cls(0, 60)
        match = _RULE.match(text)
        if not match:
            raise ValueError(f"not a rate limit: {text!r} (use e.g. 600/1m, 10/30s, or 0)")
        count = int(match.group(2) or 1)
        return cls(int(match.group(1)), count * _UNITS[match.group(3)])


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after: int


class RateLimiter:
    """Fixed windows aligned to the clock, keyed by bucket and client; fails open without Redis."""

    def __init__(
        self, client: aioredis.Redis, rules: dict[str, Rule], prefix: str = "gw:rl"
    ) -> None:
        self._redis = client
        self._rules = rules
        self._prefix = prefix
        self._script = client.register_script(_SCRIPT)

    async def hit(self, bucket: str, client_key: str, now: float | None = None) -> Verdict:
        rule = self._rules.get(bucket)
        if rule is None or rule.limit <= 0:
            return Verdict(True, -1, 0)
        now = time.time() if now is None else now
        window = int(now // rule.window)
        key = f"{self._prefix}:{bucket}:{client_key}:{window}"
        try:
            count = int(await self._script(keys=[key], args=[rule.window + 1]))
        except (redis.exceptions.RedisError, OSError) as exc:
            # Availability beats throttling: a Redis outage must not take the API down.
            log.warning("rate limiter unavailable", extra={"error": str(exc)})
            return Verdict(True, -1, 0)
        retry_after = max(1, math.ceil((window + 1) * rule.window - now))
        return Verdict(count <= rule.limit, max(0, rule.limit - count), retry_after)

    def rule(self, bucket: str) -> Rule | None:
        return self._rules.get(bucket)
