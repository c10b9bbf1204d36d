"""Saga fixtures: a database and a Redis database of the suite's own, so that no other suite's
unfinished sagas or queued messages reach (or slow down) the saga worker under test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from devstack.services import migrate_all
from svckit.db import open_pool
from tests.saga.stack import Stack


@pytest.fixture(scope="session")
def saga_database_url(pg_server_url: str) -> Iterator[str]:
    name = f"shop_saga_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{pg_server_url.rpartition('/')[0]}/{name}"
    migrate_all(url)
    yield url
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def saga_redis_url(redis_url: str) -> str:
    """Logical database 14 of the session's Redis server (the others use their own)."""
    return f"{redis_url.rsplit('/', 1)[0]}/14"


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def saga_pool(saga_database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(saga_database_url, name="saga-test", max_size=10)
    await pool.wait()
    yield pool
    await pool.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def redis(saga_redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(saga_redis_url)
    yield client
    await client.aclose()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def stack(saga_database_url: str, saga_redis_url: str, secret: str,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Inventory, payment and notify as real processes, and a saga worker (restartable)."""
    stack = Stack(saga_database_url, saga_redis_url, secret,
                  tmp_path_factory.mktemp("saga-logs"))
    try:
        stack.start_services()
        yield stack
    finally:
        await stack.close_channel()
        stack.stop()
