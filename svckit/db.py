"""PostgreSQL access: URLs, the psycopg 3 async pool used on every hot path."""

from __future__ import annotations

import logging

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from svckit.config import Env

log = logging.getLogger(__name__)


def database_url(env: Env, prefix: str) -> str:
    """`<PREFIX>_DATABASE_URL` when set (a service on its own database), else `DATABASE_URL`."""
    return env.first([f"{prefix}_DATABASE_URL", "DATABASE_URL"])


def sqlalchemy_url(url: str) -> str:
    """The same URL with SQLAlchemy's psycopg 3 driver name (for Alembic)."""
    for scheme in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def libpq_url(url: str) -> str:
    """The URL psycopg accepts (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def _configure(conn: AsyncConnection) -> None:
    conn.row_factory = dict_row  # type: ignore[assignment]


async def open_pool(
    url: str, *, name: str, min_size: int = 2, max_size: int = 10, timeout: float = 5.0
) -> AsyncConnectionPool:
    """An opened pool that keeps trying in the background while the database is away."""
    pool = AsyncConnectionPool(
        libpq_url(url),
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        name=name,
        open=False,
        configure=_configure,
        kwargs={"application_name": name, "connect_timeout": 3},
        reconnect_timeout=0,  # never give up: health reports NOT_SERVING meanwhile
    )
    await pool.open(wait=False)
    return pool


async def ping(pool: AsyncConnectionPool, timeout: float = 2.0) -> bool:
    """True when a pooled connection answers SELECT 1 in time."""
    try:
        async with pool.connection(timeout=timeout) as conn:
            await conn.execute("SELECT 1")
        return True
    except Exception as exc:
        log.debug("database ping failed", extra={"error": str(exc)})
        return False
