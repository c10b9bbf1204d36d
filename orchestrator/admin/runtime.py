"""Runs one admin command: settings, connections opened on first use, errors to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
from collections.abc import Awaitable, Callable

import psycopg
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.admin import errors
from orchestrator.admin.config import AdminSettings
from orchestrator.admin.render import Output
from orchestrator.admin.store import Conn, connect
from svckit.config import ConfigError


class Context:
    """What a command needs, opened lazily (a `breakers list` never touches PostgreSQL)."""

    def __init__(self, settings: AdminSettings, out: Output, actor: str) -> None:
        self.settings = settings
        self.out = out
        self.actor = actor
        self._conn: Conn | None = None
        self._redis: Redis | None = None

    async def conn(self) -> Conn:
        if self._conn is None:
            try:
                self._conn = await connect(self.settings.database_url)
            except psycopg.OperationalError as exc:
                raise errors.Unavailable(
                    f"PostgreSQL unreachable: {_first_line(exc)} (check ORDERS_DATABASE_URL"
                    " / DATABASE_URL, or start the local stack with `make run`)") from None
        return self._conn

    async def redis(self) -> Redis:
        if self._redis is None:
            client = Redis.from_url(self.settings.redis_url, socket_connect_timeout=3,
                                    socket_timeout=5)
            try:
                await client.ping()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                await client.aclose()
                raise errors.Unavailable(f"Redis unreachable: {_first_line(exc)}") from None
            self._redis = client
        return self._redis

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        if self._redis is not None:
            await self._redis.aclose()


Command = Callable[[Context, argparse.Namespace], Awaitable[int]]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def run(target: str, args: argparse.Namespace) -> int:
    """Run `module:function` (imported now, so `--help` stays fast) and map errors to codes."""
    module_name, _, func_name = target.partition(":")
    command: Command = getattr(importlib.import_module(f"orchestrator.admin.{module_name}"),
                               func_name)
    out = Output(as_json=getattr(args, "json", False))
    try:
        settings = AdminSettings.from_env()
    except ConfigError as exc:
        out.error(f"{exc} (or start the local stack with `make run`)")
        return errors.EXIT_UNAVAILABLE
    actor = getattr(args, "actor", None) or settings.actor or os.environ.get("USER", "unknown")
    return asyncio.run(_run(command, Context(settings, out, actor), args))


async def _run(command: Command, ctx: Context, args: argparse.Namespace) -> int:
    try:
        return await command(ctx, args)
    except errors.AdminError as exc:
        ctx.out.error(str(exc))
        return exc.exit_code
    except (psycopg.OperationalError, RedisConnectionError, RedisTimeoutError) as exc:
        ctx.out.error(f"unavailable: {_first_line(exc)}")
        return errors.EXIT_UNAVAILABLE
    finally:
        await ctx.close()
