"""Saga fixtures: a pool on the session database and a Redis client (breakers, Dramatiq)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from svckit.db import open_pool


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def saga_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(database_url, name="saga-test", max_size=10)
    await pool.wait()
    yield pool
    await pool.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()
