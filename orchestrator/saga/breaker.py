"""Circuit breakers per downstream service, shared by every worker process through Redis.

A breaker opens after N consecutive failures, rejects calls for the open period, then lets ONE
trial call through (half-open): success closes it, failure opens it again. All transitions run
in one Lua script on Redis' clock, so any number of processes agree on the state. The admin CLI
reads and resets breakers with `list_breakers` / `reset`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Gauge
from redis.asyncio import Redis

KEY_PREFIX = "shop:breaker:"
STATES = {"closed": 0, "open": 1, "half_open": 2}

BREAKER_STATE = Gauge(
    "saga_circuit_breaker_state",
    "Circuit breaker state per downstream service (0 closed, 1 open, 2 half-open).",
    ["service"],
)

# KEYS[1] breaker hash; ARGV: op, failure threshold, open ms, trial ms.
# Returns {state, consecutive failures, allowed 0/1}.
_SCRIPT = """
local key, op = KEYS[1], ARGV[1]
local threshold, open_ms, trial_ms = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local state = redis.call('HGET', key, 'state') or 'closed'
local failures = tonumber(redis.call('HGET', key, 'failures') or '0')
local until_ms = tonumber(redis.call('HGET', key, 'until') or '0')
local allowed = 1
if op == 'acquire' then
  if state == 'open' then
    if now >= until_ms then
      state = 'half_open'; until_ms = now + trial_ms
    else
      allowed = 0
    end
  elseif state == 'half_open' then
    if now >= until_ms then until_ms = now + trial_ms else allowed = 0 end
  end
elseif op == 'success' then
  state = 'closed'; failures = 0; until_ms = 0
elseif op == 'failure' then
  failures = failures + 1
  if state == 'half_open' or failures >= threshold then
    state = 'open'; until_ms = now + open_ms
  end
elseif op == 'reset' then
  redis.call('DEL', key)
  return {'closed', 0, 1}
end
redis.call('HSET', key, 'state', state, 'failures', failures, 'until', until_ms,
           'changed', now)
return {state, failures, allowed}
"""


@dataclass(frozen=True)
class BreakerState:
    name: str
    state: str
    failures: int
    allowed: bool = True
    open_until_ms: int = 0


class Breakers:
    """The breakers of this process's downstream services, stored in Redis."""

    def __init__(self, redis: Redis, *, failures: int = 5, open_seconds: float = 30.0,
                 trial_seconds: float | None = None, clean_cache_seconds: float = 0.0) -> None:
        self._redis = redis
        # A breaker seen closed with no failures is trusted locally this long: the hot path
        # then costs no Redis round trip. A failure here always goes to Redis at once (and
        # drops the local trust), so only another process's opening is seen this much late.
        self._clean_cache = clean_cache_seconds
        self._clean_until: dict[str, float] = {}
        self._threshold = failures
        self._open_ms = int(open_seconds * 1000)
        # A trial that never reports (a killed worker) frees the slot after this long.
        self._trial_ms = int((trial_seconds or max(open_seconds, 5.0)) * 1000)
        self._script = redis.register_script(_SCRIPT)

    async def _run(self, name: str, op: str) -> BreakerState:
        state, failures, allowed = await self._script(
            keys=[KEY_PREFIX + name],
            args=[op, self._threshold, self._open_ms, self._trial_ms],
        )
        state = state.decode() if isinstance(state, bytes) else str(state)
        BREAKER_STATE.labels(name).set(STATES.get(state, 0))
        return BreakerState(name, state, int(failures), bool(allowed))

    async def acquire(self, name: str) -> BreakerState:
        """May a call go to `name` now? (The half-open trial slot is taken by the caller.)"""
        now = time.monotonic()
        if now < self._clean_until.get(name, 0.0):
            return BreakerState(name, "closed", 0, True)
        state = await self._run(name, "acquire")
        if self._clean_cache > 0 and state.state == "closed" and not state.failures:
            self._clean_until[name] = now + self._clean_cache
        return state

    async def record(self, name: str, *, failed: bool, before: BreakerState) -> None:
        """Report a call's result; a success on a clean closed breaker costs no round trip."""
        if failed:
            self._clean_until.pop(name, None)
            await self._run(name, "failure")
        elif before.state != "closed" or before.failures:
            await self._run(name, "success")


async def list_breakers(redis: Redis) -> list[BreakerState]:
    """Every breaker known to Redis, for the admin CLI and the metrics refresh."""
    result = []
    async for key in redis.scan_iter(match=KEY_PREFIX + "*"):
        raw = await redis.hgetall(key)
        fields = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes)
                  else v for k, v in raw.items()}
        name = (key.decode() if isinstance(key, bytes) else key)[len(KEY_PREFIX):]
        result.append(BreakerState(name, fields.get("state", "closed"),
                                   int(fields.get("failures", 0)),
                                   open_until_ms=int(fields.get("until", 0))))
    return sorted(result, key=lambda b: b.name)


async def reset(redis: Redis, name: str) -> None:
    """Close a breaker by hand (admin CLI)."""
    await redis.delete(KEY_PREFIX + name)
    BREAKER_STATE.labels(name).set(0)


async def refresh_metrics(redis: Redis) -> None:
    """Mirror the shared state into this process's gauge (open breakers others opened)."""
    for item in await list_breakers(redis):
        BREAKER_STATE.labels(item.name).set(STATES.get(item.state, 0))
