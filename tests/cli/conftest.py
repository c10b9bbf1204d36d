"""Admin CLI fixtures: the saga suite's real processes, and the CLI run in-process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from orchestrator.cli import main
from orchestrator.saga.breaker import KEY_PREFIX
from svckit.db import open_pool
from tests.saga.stack import Stack

# Retries wait long (the first one ~20 s): a saga hit by a transient failure stays put until an
# operator acts, which is what these tests need.
WORKER = {"SAGA_BACKOFF_SCALE": "50"}


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """`orchestrator ...` in-process (on a thread: the command runs its own event loop)."""

    def __init__(self, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.env = env
        self.monkeypatch = monkeypatch

    async def __call__(self, *argv: str) -> Ran:
        for key, value in self.env.items():
            self.monkeypatch.setenv(key, value)
        out, err = io.StringIO(), io.StringIO()

        def call() -> int:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    return main(list(argv))
                except SystemExit as exc:  # argparse
                    return int(exc.code or 0)

        code = await asyncio.to_thread(call)
        return Ran(code, out.getvalue(), err.getvalue())


@pytest_asyncio.fixture(loop_scope="session", scope="package")
async def stack(database_url: str, redis_url: str, secret: str,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Inventory, payment and notify processes, and a saga worker (restartable)."""
    stack = Stack(database_url, redis_url, secret, tmp_path_factory.mktemp("cli-logs"))
    try:
        stack.start_services()
        yield stack
    finally:
        await stack.close_channel()
        stack.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="package")
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(database_url, name="cli-test", max_size=4)
    await pool.wait()
    yield pool
    await pool.close()


@pytest_asyncio.fixture(loop_scope="session", scope="package")
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def cli_env(database_url: str, redis_url: str, secret: str, stack: Stack | None) -> dict[str, str]:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "JWT_SECRET": secret,
           "USER": "cli-test"}
    if stack is not None:
        env.update({f"{name.upper()}_ADDR": f"127.0.0.1:{port}"
                    for name, port in stack.ports.items()})
    return env


@pytest.fixture
def cli(database_url: str, redis_url: str, secret: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI against the session database and Redis (no services)."""
    monkeypatch.delenv("ORDERS_DATABASE_URL", raising=False)
    return Cli(cli_env(database_url, redis_url, secret, None), monkeypatch)


@pytest.fixture
async def worker(stack: Stack, redis: Redis, database_url: str, redis_url: str, secret: str,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[Stack, Cli]:
    """The module's worker running (breakers closed) and the CLI pointed at the services."""
    for key in await redis.keys(KEY_PREFIX + "*"):
        await redis.delete(key)
    await asyncio.to_thread(stack.ensure_worker, **WORKER)
    monkeypatch.delenv("ORDERS_DATABASE_URL", raising=False)
    return stack, Cli(cli_env(database_url, redis_url, secret, stack), monkeypatch)
