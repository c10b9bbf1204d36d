"""Composition root: `python -m gateway` serves HTTP on GATEWAY_HTTP_PORT;
`python -m gateway seed-users` creates the demo accounts and prints them."""

from __future__ import annotations

import sys

import uvicorn

from gateway.app import Gateway, build_app
from gateway.config import Settings
from gateway.seed import seed_users
from svckit import logs, runtime
from svckit.config import Env
from svckit.db import database_url


async def main() -> None:
    settings = Settings.from_env()
    logs.configure("gateway", settings.log_level)
    gateway = await Gateway.create(settings)
    config = uvicorn.Config(
        build_app(gateway),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,  # the gateway logs one JSON line per request itself
        lifespan="off",
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        await gateway.close()


def seed() -> None:
    for email, password, role in seed_users(database_url(Env(), "GATEWAY")):
        print(f"{role:9} {email:22} {password}")


if __name__ == "__main__":
    if sys.argv[1:] == ["seed-users"]:
        seed()
    elif sys.argv[1:]:
        sys.exit("usage: python -m gateway [seed-users]")
    else:
        runtime.run(main())
