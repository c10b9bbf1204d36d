"""Session-wide real servers: PostgreSQL and Redis from DATABASE_URL/REDIS_URL or embedded."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devstack import servers
from devstack.services import migrate_all

TEST_SECRET = "test-secret-for-jwt-signing-only-0123456789"


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A PostgreSQL server: DATABASE_URL's when set, else an embedded one for this session."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    tmp = Path(tempfile.mkdtemp(prefix="shop-test-pg-"))
    server = servers.EmbeddedPostgres(tmp / "data", servers.free_port(), fast_unsafe=True)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        servers.remove_tree(tmp)


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database for this test session with every service's migrations applied."""
    name = f"shop_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(pg_server_url, name)
    migrate_all(url)
    yield url
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server: REDIS_URL's when set (database 15 is used and flushed), else embedded."""
    given = os.environ.get("REDIS_URL")
    if given:
        base = given.rsplit("/", 1)[0] if given.count("/") > 2 else given
        yield f"{base}/15"
        return
    tmp = Path(tempfile.mkdtemp(prefix="shop-test-redis-"))
    server = servers.EmbeddedRedis(tmp, servers.free_port(), persistent=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        servers.remove_tree(tmp)


@pytest.fixture(scope="session")
def secret() -> str:
    return TEST_SECRET
