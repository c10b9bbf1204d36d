"""Admin CLI settings: the processes' environment, else the local stack's `.data/stack.env`."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from svckit.config import Env
from svckit.db import database_url

# Written by `make run` (devstack): DATABASE_URL, REDIS_URL and JWT_SECRET of the local stack.
STACK_ENV = Path(".data") / "stack.env"
_REPO_ROOT = Path(__file__).resolve().parents[2]


def _stack_env(environ: Mapping[str, str]) -> dict[str, str]:
    """KEY=VALUE lines of the local stack's env file (project folder, then the checkout)."""
    candidates = [Path(environ["DEVSTACK_DATA_DIR"]) / "stack.env"] if environ.get(
        "DEVSTACK_DATA_DIR") else []
    candidates += [Path.cwd() / STACK_ENV, _REPO_ROOT / STACK_ENV]
    for path in candidates:
        if path.is_file():
            pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
            return {k.strip(): v.strip() for k, v in pairs}
    return {}


@dataclass(frozen=True)
class AdminSettings:
    database_url: str
    redis_url: str
    jwt_secret: str | None
    inventory_addr: str
    payment_addr: str
    notify_addr: str
    actor: str
    rpc_timeout: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AdminSettings:
        environ = os.environ if environ is None else environ
        merged = {**_stack_env(environ), **{k: v for k, v in environ.items() if v}}
        env = Env(merged)
        return cls(
            database_url=database_url(env, "ORDERS"),
            redis_url=env.str("REDIS_URL", "redis://localhost:6379/0"),
            jwt_secret=env.get("JWT_SECRET"),
            inventory_addr=env.str("INVENTORY_ADDR", "localhost:50051"),
            payment_addr=env.str("PAYMENT_ADDR", "localhost:50052"),
            notify_addr=env.str("NOTIFY_ADDR", "localhost:50053"),
            actor=env.get("USER") or getpass.getuser(),
            rpc_timeout=env.duration("ADMIN_RPC_TIMEOUT", "3s"),
        )
