"""The real processes for saga tests: inventory, payment, notify and the saga worker.

Each runs as `python -m ...` on free ports against the session database and Redis; the worker
can be restarted with other settings, killed, and its log read.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from shop.common.v1 import money_pb2
from shop.inventory.v1 import inventory_pb2 as inv
from shop.inventory.v1 import inventory_pb2_grpc as inv_grpc

from devstack.servers import free_port, wait_for_port
from tests.support import bearer

ROOT = Path(__file__).resolve().parents[2]

WORKER_ENV = {
    "WORKER_THREADS": "8",
    "SAGA_BACKOFF_SCALE": "0.1",
    "SAGA_LEASE": "3s",
    "SAGA_CALL_TIMEOUT": "1400ms",
    "SAGA_MIN_BACKOFF": "100ms",
    "SAGA_MAX_BACKOFF": "200ms",
    "SAGA_MAX_RETRIES": "2",
    "BREAKER_OPEN": "1s",
    "SWEEP_INTERVAL": "300ms",
    "SWEEP_GRACE": "1s",
    "WORKER_SHUTDOWN_GRACE": "10s",
    "LOG_LEVEL": "INFO",
}


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.metrics_port = 0
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, *argv], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


class Stack:
    def __init__(self, database_url: str, redis_url: str, secret: str, log_dir: Path) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.secret = secret
        self.log_dir = log_dir
        self.ports = {name: free_port() for name in ("inventory", "payment", "notify", "orders")}
        self.procs: list[Proc] = []
        self.worker: Proc | None = None
        self.worker_env: dict[str, str] | None = None
        self.broker = RedisBroker(url=redis_url, middleware=[])
        self._channel: grpc.aio.Channel | None = None

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SAGA_", "BREAKER_", "SWEEP_", "WORKER_"))}
        env.update(DATABASE_URL=self.database_url, REDIS_URL=self.redis_url,
                   JWT_SECRET=self.secret, LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def start_payment(self, name: str, **extra: str) -> tuple[Proc, int]:
        """Another payment process (e.g. a slow gateway) on its own port."""
        port = free_port()
        env = self._env({"PAYMENT_GRPC_PORT": str(port), "PAYMENT_METRICS_PORT": "0",
                         "PAYMENT_TRANSIENT_RETRY_AFTER": "50ms", **extra})
        proc = Proc(name, ["-m", "payment_svc"], env, self.log_dir)
        self.procs.append(proc)
        wait_for_port(port, 30, proc.popen)  # type: ignore[arg-type]
        return proc, port

    def start_services(self) -> None:
        p = self.ports
        specs = {
            "inventory": {"INVENTORY_GRPC_PORT": str(p["inventory"]),
                          "INVENTORY_METRICS_PORT": "0"},
            "payment": {"PAYMENT_GRPC_PORT": str(p["payment"]), "PAYMENT_METRICS_PORT": "0",
                        "PAYMENT_LATENCY_MS": "0",
                        "PAYMENT_TRANSIENT_RETRY_AFTER": "50ms"},
            "notify": {"NOTIFY_GRPC_PORT": str(p["notify"]), "NOTIFY_METRICS_PORT": "0",
                       "NOTIFY_EMAIL_MODE": "record"},
        }
        module = {"inventory": "inventory_svc", "payment": "payment_svc", "notify": "notify_svc"}
        for name, extra in specs.items():
            self.procs.append(Proc(name, ["-m", module[name]], self._env(extra), self.log_dir))
        for proc in self.procs:
            wait_for_port(self.ports[proc.name], 30, proc.popen)  # type: ignore[arg-type]

    def start_front(self) -> None:
        """The order API and the outbox relay (`orchestrator api`, `orchestrator relay`)."""
        api = Proc("orders-api", ["-m", "orchestrator", "api"], self._env({
            "ORDERS_GRPC_PORT": str(self.ports["orders"]), "ORDERS_METRICS_PORT": "0",
            "INVENTORY_ADDR": f"127.0.0.1:{self.ports['inventory']}"}), self.log_dir)
        relay = Proc("relay", ["-m", "orchestrator", "relay"], self._env({
            "RELAY_METRICS_PORT": "0", "RELAY_POLL_INTERVAL": "200ms"}), self.log_dir)
        self.procs += [api, relay]
        wait_for_port(self.ports["orders"], 30, api.popen)  # type: ignore[arg-type]

    def start_worker(self, **extra: str) -> Proc:
        """A worker with the test settings plus `extra`; waits until it consumes."""
        metrics_port = free_port()
        env = {**WORKER_ENV, "WORKER_METRICS_PORT": str(metrics_port),
               "INVENTORY_ADDR": f"127.0.0.1:{self.ports['inventory']}",
               "PAYMENT_ADDR": f"127.0.0.1:{self.ports['payment']}",
               "NOTIFY_ADDR": f"127.0.0.1:{self.ports['notify']}", **extra}
        proc = Proc("worker", ["-m", "orchestrator", "worker"], self._env(env), self.log_dir)
        deadline = time.monotonic() + 30
        while "worker consuming" not in proc.text():
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{proc.text()[-3000:]}")
            time.sleep(0.05)
        proc.metrics_port = metrics_port
        self.worker, self.worker_env = proc, extra
        return proc

    def ensure_worker(self, **extra: str) -> Proc:
        """The running worker if its settings are `extra`, else a restarted one."""
        if self.worker is not None and self.worker.alive() and self.worker_env == extra:
            return self.worker
        self.stop_worker()
        return self.start_worker(**extra)

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        for proc in self.procs:
            proc.stop()
        self.broker.close()

    # --- driving --------------------------------------------------------------------------

    def send(self, order_id: str, event: str = "OrderPlaced", message_id: str | None = None,
             args: tuple[Any, ...] | None = None) -> str:
        """A message exactly as the relay sends it (its id is the outbox row id)."""
        message_id = message_id or str(uuid.uuid4())
        self.broker.enqueue(Message(
            queue_name="saga", actor_name="advance_saga", args=args or (order_id,),
            kwargs={"event": event, "outbox_id": message_id}, options={},
            message_id=message_id))
        return message_id

    @property
    def inventory(self) -> inv_grpc.InventoryServiceStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.ports['inventory']}")
        return inv_grpc.InventoryServiceStub(self._channel)

    async def new_product(self, stock: int, price: int = 1000) -> str:
        reply = await self.inventory.CreateProduct(inv.CreateProductRequest(
            sku=f"SAGA-{uuid.uuid4().hex[:12]}", name="Saga test product",
            price=money_pb2.Money(currency_code="EUR", amount_minor=price),
            initial_stock=stock), metadata=bearer(self.secret, "admin"), timeout=10)
        return str(reply.product.product_id)

    async def stock(self, product_id: str) -> inv.Stock:
        reply = await self.inventory.GetStock(inv.GetStockRequest(product_id=product_id),
                                              timeout=10)
        return reply.stock

    async def close_channel(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


async def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> None:
    """Polls an async predicate until true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
