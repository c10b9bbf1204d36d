"""`make run`: PostgreSQL and Redis (given or embedded), migrations, demo data, every process."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path

from devstack import seed, servers
from devstack.processes import PROCESSES
from devstack.services import migrate_all
from devstack.supervisor import Supervisor
from svckit import auth

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("DEVSTACK_DATA_DIR", ROOT / ".data"))
PG_PORT = int(os.environ.get("DEVSTACK_PG_PORT", "55432"))
REDIS_PORT = int(os.environ.get("DEVSTACK_REDIS_PORT", "56379"))


def _port(preferred: int) -> int:
    return preferred if servers.port_is_free(preferred) else servers.free_port()


def _jwt_secret() -> str:
    given = os.environ.get("JWT_SECRET")
    if given:
        return given
    path = DATA / "jwt_secret"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _banner(env: dict[str, str], seeded: list[str]) -> str:
    admin = auth.issue_token(env["JWT_SECRET"], "dev-admin", "admin", ttl_seconds=12 * 3600)
    grpcurl = f"{ROOT}/.venv/bin/grpcurl"
    lines = ["", "=" * 78, "The order platform is running. Ctrl-C stops everything.", ""]
    for proc in PROCESSES:
        ports = []
        if proc.grpc_port:
            ports.append(f"gRPC localhost:{proc.grpc_port}")
        if proc.http_port:
            ports.append(f"HTTP http://localhost:{proc.http_port}")
        if proc.name == "mailsink":
            ports.append(f"SMTP localhost:{proc.env.get('NOTIFY_MAILSINK_PORT', '1025')}")
            ports.append(f"mails in {proc.env.get('NOTIFY_MAILSINK_DIR', '.data/mail')}/*.eml")
        if proc.metrics_port:
            ports.append(f"metrics http://localhost:{proc.metrics_port}/metrics")
        lines.append(f"  {proc.name:<12} {'  '.join(ports)}")
    lines += ["", f"  PostgreSQL   {env['DATABASE_URL']}", f"  Redis        {env['REDIS_URL']}"]
    lines += [f"  {line}" for line in seeded]
    lines += [
        "",
        "Development admin token (12 h):",
        f"  export TOKEN={admin}",
        "",
        "Try:",
        f"  {grpcurl} -plaintext localhost:50051 list",
        f"  {grpcurl} -plaintext -d '{{\"page_size\": 5}}' localhost:50051 "
        "shop.inventory.v1.InventoryService/ListProducts",
        f'  {grpcurl} -plaintext -H "authorization: Bearer $TOKEN" -d \'{{"sku": "DEMO-1", '
        '"name": "Demo", "price": {"currency_code": "EUR", "amount_minor": 500}, '
        '"initial_stock": 3}\' localhost:50051 shop.inventory.v1.InventoryService/CreateProduct',
        "=" * 78,
        "",
    ]
    return "\n".join(lines)


async def main() -> int:
    embedded: list[servers.EmbeddedPostgres | servers.EmbeddedRedis] = []
    env = dict(os.environ)
    env["JWT_SECRET"] = _jwt_secret()
    env.setdefault("LOG_LEVEL", "INFO")
    env["PYTHONUNBUFFERED"] = "1"
    if not env.get("DATABASE_URL"):
        pg = servers.EmbeddedPostgres(DATA / "postgres" / "data", _port(PG_PORT))
        print(f"[devstack] starting embedded PostgreSQL on 127.0.0.1:{pg.port}", flush=True)
        env["DATABASE_URL"] = await asyncio.to_thread(pg.start)
        embedded.append(pg)
    if not env.get("REDIS_URL"):
        redis = servers.EmbeddedRedis(DATA / "redis", _port(REDIS_PORT))
        print(f"[devstack] starting embedded Redis on 127.0.0.1:{redis.port}", flush=True)
        env["REDIS_URL"] = await asyncio.to_thread(redis.start)
        embedded.append(redis)
    (DATA / "stack.env").write_text(
        "".join(f"{k}={env[k]}\n" for k in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET"))
    )
    supervisor = Supervisor(str(ROOT))
    try:
        print("[devstack] migrating", flush=True)
        await asyncio.to_thread(migrate_all, env["DATABASE_URL"])
        seeded = await seed.run_all(env["DATABASE_URL"])
        for proc in PROCESSES:
            argv = [sys.executable if proc.argv[0] == "python" else proc.argv[0], *proc.argv[1:]]
            supervisor.add(proc.name, argv, {**env, **proc.env, **_overrides(proc.env)})
        await supervisor.start()
        await asyncio.sleep(1.5)
        print(_banner(env, seeded), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("\n[devstack] stopping every process", flush=True)
    finally:
        await supervisor.stop()
        for server in reversed(embedded):
            await asyncio.to_thread(server.stop)
        print("[devstack] stopped", flush=True)
    return 0


def _overrides(defaults: dict[str, str]) -> dict[str, str]:
    """A variable set in the caller's environment wins over the launcher's default."""
    return {k: os.environ[k] for k in defaults if os.environ.get(k)}


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
