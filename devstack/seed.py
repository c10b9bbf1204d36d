"""Demo data for the local stack; every seeder is idempotent and returns a line to print."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from svckit.db import open_pool

Seeder = Callable[[str], Awaitable[str]]


async def seed_catalog(database_url: str) -> str:
    from inventory_svc.seed import DEMO_CATALOG, seed_catalog

    pool = await open_pool(database_url, name="seed", min_size=1, max_size=2)
    try:
        await pool.wait()
        created = await seed_catalog(pool)
    finally:
        await pool.close()
    return f"catalog: {len(DEMO_CATALOG)} demo products ({created} created now)"


# "module:function" of each seeder, run in this order.
SEEDERS: list[str] = [
    "devstack.seed:seed_catalog",
    "gateway.seed:seed_demo_users",
]


async def run_all(database_url: str) -> list[str]:
    lines = []
    for target in SEEDERS:
        module, _, name = target.partition(":")
        seeder: Seeder = getattr(importlib.import_module(module), name)
        lines.append(await seeder(database_url))
    return lines
