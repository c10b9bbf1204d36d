"""Saga fixtures: a pool on the session database and a Redis client (breakers, Dramatiq)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from svckit.db import open_pool
from tests.saga.stack import Stack


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


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def stack(database_url: str, redis_url: str, secret: str,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Inventory, payment and notify as real processes, and a saga worker (restartable)."""
    stack = Stack(database_url, redis_url, secret, tmp_path_factory.mktemp("saga-logs"))
    try:
        stack.start_services()
        yield stack
    finally:
        await stack.close_channel()
        stack.stop()
