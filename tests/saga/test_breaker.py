"""Circuit breakers on real Redis: shared state, one half-open trial, reset."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from orchestrator.saga.breaker import Breakers, list_breakers, reset

pytestmark = pytest.mark.integration


async def test_opens_after_consecutive_failures_then_one_trial(redis: Redis) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    # Two processes' views of the same breaker.
    a, b = Breakers(redis, failures=5, open_seconds=0.3), Breakers(redis, failures=5,
                                                                   open_seconds=0.3)
    for n in range(5):
        state = await (a if n % 2 else b).acquire(name)
        assert state.allowed
        await a.record(name, failed=True, before=state)

    assert not (await b.acquire(name)).allowed  # open for everyone
    await asyncio.sleep(0.35)
    trial = await a.acquire(name)
    assert trial.allowed and trial.state == "half_open"
    assert not (await b.acquire(name)).allowed  # only one trial at a time
    await a.record(name, failed=True, before=trial)  # the trial failed: open again
    assert (await b.acquire(name)).state == "open"
    await asyncio.sleep(0.35)
    trial = await b.acquire(name)
    await b.record(name, failed=False, before=trial)
    state = await a.acquire(name)
    assert (state.allowed, state.state, state.failures) == (True, "closed", 0)


async def test_a_success_resets_the_count(redis: Redis) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    breakers = Breakers(redis, failures=3, open_seconds=10)
    for _ in range(2):
        await breakers.record(name, failed=True, before=await breakers.acquire(name))
    await breakers.record(name, failed=False, before=await breakers.acquire(name))
    await breakers.record(name, failed=True, before=await breakers.acquire(name))
    assert (await breakers.acquire(name)).allowed


async def test_listed_and_reset_for_the_admin_cli(redis: Redis) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    breakers = Breakers(redis, failures=1, open_seconds=60)
    await breakers.record(name, failed=True, before=await breakers.acquire(name))
    listed = {b.name: b for b in await list_breakers(redis)}
    assert listed[name].state == "open" and listed[name].open_until_ms > 0
    await reset(redis, name)
    assert (await breakers.acquire(name)).allowed


async def test_a_clean_breaker_is_trusted_locally_until_a_failure(redis: Redis) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    here = Breakers(redis, failures=1, open_seconds=60, clean_cache_seconds=60)
    elsewhere = Breakers(redis, failures=1, open_seconds=60)
    assert (await here.acquire(name)).allowed  # seen clean: trusted for a while
    await elsewhere.record(name, failed=True, before=await elsewhere.acquire(name))

    assert (await here.acquire(name)).allowed  # another process's opening, not seen yet
    await here.record(name, failed=True, before=await here.acquire(name))
    assert not (await here.acquire(name)).allowed  # its own failure: back to Redis at once
