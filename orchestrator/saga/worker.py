"""`python -m orchestrator worker`: the Dramatiq worker that runs sagas, plus the sweeper.

The worker is started programmatically: dramatiq.Worker over our explicitly configured broker
with WORKER_THREADS threads, the AsyncIO loop thread (uvloop) holding the database pool, Redis
client, gRPC channels and the sweeper task. SIGTERM/SIGINT stop consuming, let in-flight
messages finish (unfinished ones go back to Redis), then close everything.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import signal
import sys
import threading
from typing import Any

import dramatiq
import psycopg
import uvloop
from dramatiq import Message
from dramatiq.asyncio import get_event_loop_thread
from psycopg_pool import PoolTimeout
from redis.asyncio import Redis

from orchestrator.saga import broker as saga_broker
from orchestrator.saga import metrics, store
from orchestrator.saga.breaker import Breakers
from orchestrator.saga.config import WorkerSettings
from orchestrator.saga.engine import Engine
from orchestrator.saga.ports import SagaPorts
from orchestrator.saga.store import SagaStore
from orchestrator.saga.sweeper import Sweeper
from svckit import logs
from svckit.clients import ServiceToken
from svckit.db import open_pool
from svckit.metrics import serve_metrics

log = logging.getLogger(__name__)


class Runtime:
    """The worker's async resources, created on the AsyncIO loop thread at worker boot."""

    def __init__(self, settings: WorkerSettings, ports: SagaPorts | None = None) -> None:
        self.settings = settings
        self._ports = ports
        self.broker: Any = None
        self.engine: Engine | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closers: list[Any] = []

    async def start(self) -> None:
        s = self.settings
        pool = await open_pool(s.database_url, name="saga-worker", min_size=2,
                               max_size=s.threads + 4)
        await pool.wait(timeout=30)
        redis = Redis.from_url(s.redis_url)
        ports = self._ports
        if ports is None:
            from orchestrator.saga.clients import GrpcPorts

            grpc_ports = GrpcPorts(ServiceToken(s.jwt_secret, "orchestrator"),
                                   inventory_addr=s.inventory_addr,
                                   payment_addr=s.payment_addr, notify_addr=s.notify_addr)
            self._closers.append(grpc_ports.close)
            ports = grpc_ports
        self.engine = Engine(
            SagaStore(pool, lease=s.lease, deadline=s.saga_deadline), ports,
            Breakers(redis, failures=s.breaker_failures, open_seconds=s.breaker_open,
                     clean_cache_seconds=s.breaker_cache),
            self._schedule, call_timeout=s.call_timeout, backoff_scale=s.backoff_scale,
            crash_after_step=s.crash_after_step,
        )
        self.pool = pool
        sweeper = Sweeper(pool, redis, self._send_many, interval=s.sweep_interval,
                          grace=s.sweep_grace, batch=s.sweep_batch)
        self._tasks.append(asyncio.get_running_loop().create_task(sweeper.run()))
        self._closers += [redis.aclose, pool.close]
        log.info("saga worker ready", extra={"threads": s.threads})

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for close in self._closers:
            try:
                await close()
            except Exception:
                log.debug("close failed", exc_info=True)

    # --- sending (Dramatiq's broker is blocking: off the loop) ----------------------------

    async def _schedule(self, order_id: str, delay: float) -> None:
        message = saga_broker.saga_message(order_id, "Retry")
        await asyncio.to_thread(self.broker.enqueue, message, delay=int(delay * 1000))

    async def _send_many(self, order_ids: list[str]) -> None:
        def send() -> None:
            for order_id in order_ids:
                self.broker.enqueue(saga_broker.saga_message(order_id, "Sweep"))
        await asyncio.to_thread(send)

    # --- called on Dramatiq's worker threads ----------------------------------------------

    def handle(self, order_id: str, message_id: str) -> None:
        assert self.engine is not None
        thread = get_event_loop_thread()
        assert thread is not None
        try:
            thread.run_coroutine(self.engine.advance(order_id, message_id))
        except (psycopg.OperationalError, PoolTimeout) as exc:
            # The database is away: not the message's fault, so no retry storm and no dead
            # letter. The saga's row is unchanged; the sweeper re-sends it once PostgreSQL is back.
            log.warning("database unavailable; the sweeper will resume the saga",
                        extra={"order_id": order_id, "error": str(exc)})

    def dead_letter(self, message: Message[Any], error: str | None, attempts: int) -> None:
        thread = get_event_loop_thread()
        order_id = str(message.args[0]) if message.args else None

        async def insert() -> None:
            async with self.pool.connection() as conn, conn.transaction():
                await store.insert_dead_letter(
                    conn, message_id=message.message_id, order_id=order_id,
                    queue_name=message.queue_name, actor_name=message.actor_name,
                    message=message.asdict(), error=error,
                    attempts=attempts)
        try:
            assert thread is not None
            thread.run_coroutine(insert())
            metrics.DEAD_LETTERS.inc()
            log.error("message dead-lettered", extra={"message_id": message.message_id,
                                                      "order_id": order_id, "error": error})
        except Exception:
            log.exception("could not store dead letter %s", message.message_id)


def build(settings: WorkerSettings, ports: SagaPorts | None = None
          ) -> tuple[dramatiq.Worker, Runtime]:
    """A ready-to-start worker (tests pass fake ports; production uses gRPC)."""
    runtime = Runtime(settings, ports)
    broker = saga_broker.make_broker(
        settings, dead_letters=runtime.dead_letter,
        lifecycle=saga_broker.Lifecycle(runtime.start, runtime.stop))
    runtime.broker = broker
    saga_broker.declare_actor(broker, runtime.handle)
    worker = dramatiq.Worker(broker, queues={saga_broker.QUEUE},
                             worker_threads=settings.threads,
                             worker_timeout=settings.worker_timeout_ms)
    return worker, runtime


def main() -> int:
    settings = WorkerSettings.from_env()
    logs.configure("worker", settings.log_level)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # the AsyncIO loop thread's loop
    serve_metrics(settings.metrics_port)
    worker, runtime = build(settings)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    worker.start()
    log.info("worker consuming", extra={"queue": saga_broker.QUEUE})
    while not stopping.wait(timeout=1.0):
        pass
    log.info("worker stopping")
    clean = _stop(worker, runtime, settings)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit without the interpreter's own shutdown: everything ours is stopped and closed, and
    # leftover library threads (gRPC, executors) must not keep a stopped worker alive.
    os._exit(0 if clean else 1)


def _stop(worker: dramatiq.Worker, runtime: Runtime, settings: WorkerSettings) -> bool:
    """Stops consuming, lets in-flight messages finish and closes everything, within the grace.

    Past the grace the worker gives up (exit 1) and dumps every thread's stack: messages it had
    not acknowledged go back to the queue when Redis sees its heartbeat stop, and the sweeper
    covers any saga whose message is lost, so giving up loses nothing.
    """
    finished = threading.Event()

    def stop() -> None:
        worker.stop(timeout=int(min(settings.time_limit_ms, settings.shutdown_grace * 1000)))
        log.info("worker stopped consuming; resources closed")
        runtime.broker.close()
        finished.set()

    threading.Thread(target=stop, name="shutdown", daemon=True).start()
    if finished.wait(settings.shutdown_grace):
        log.info("worker stopped")
        return True
    log.error("worker did not stop within the grace period; exiting anyway",
              extra={"grace_seconds": settings.shutdown_grace})
    faulthandler.dump_traceback(all_threads=True)
    return False
