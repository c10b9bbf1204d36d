"""Benchmark order intake against a running stack (not a test).

Drives CreateOrder from N concurrent grpc.aio callers for a fixed time, then prints accepted
orders/s, CreateOrder latency percentiles, and the relay's commit->enqueue latency percentiles
(outbox created_at -> sent_at of the orders this run placed).

    JWT_SECRET=... DATABASE_URL=postgresql://... .venv/bin/python scripts/bench_orders.py \
        --concurrency 16 --duration 15

Needs the order API (ORDERS_ADDR, default localhost:50050), inventory (INVENTORY_ADDR, for the
product ids; creates three products when the catalog has none) and the relay running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

import grpc
import psycopg
import uvloop
from shop.common.v1 import money_pb2
from shop.inventory.v1 import inventory_pb2 as inv_pb
from shop.inventory.v1 import inventory_pb2_grpc as inv_grpc
from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc as pb_grpc

from svckit import auth


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children), from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def parse_pids(text: str) -> dict[str, int]:
    pairs = (item.split("=", 1) for item in text.split(",") if item)
    return {name: int(pid) for name, pid in pairs}


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (f"p50 {at(0.50):.1f} ms  p90 {at(0.90):.1f} ms  p99 {at(0.99):.1f} ms  "
            f"max {ordered[-1] * 1000:.1f} ms  mean {statistics.fmean(ordered) * 1000:.1f} ms")


async def product_ids(secret: str, inventory_addr: str) -> list[str]:
    async with grpc.aio.insecure_channel(inventory_addr) as channel:
        stub = inv_grpc.InventoryServiceStub(channel)
        listed = await stub.ListProducts(inv_pb.ListProductsRequest(page_size=20, active=True))
        ids = [p.product_id for p in listed.products if p.price.currency_code == "EUR"]
        if len(ids) >= 3:
            return ids[:3]
        token = auth.issue_token(secret, "bench-admin", "admin", ttl_seconds=600)
        for i in range(3):
            created = await stub.CreateProduct(
                inv_pb.CreateProductRequest(
                    sku=f"BENCH-{uuid.uuid4().hex[:8]}-{i}", name=f"Bench product {i}",
                    price=money_pb2.Money(currency_code="EUR", amount_minor=1000 + i),
                    initial_stock=1_000_000),
                metadata=[("authorization", f"Bearer {token}")])
            ids.append(created.product.product_id)
        return ids[:3]


async def run(args: argparse.Namespace) -> None:
    secret = os.environ["JWT_SECRET"]
    products = await product_ids(secret, args.inventory)
    tokens = [
        auth.issue_token(secret, f"bench-{i}", "customer", ttl_seconds=3600,
                         email=f"bench{i}@example.com")
        for i in range(args.customers)
    ]
    request = pb.CreateOrderRequest(
        items=[pb.OrderLine(product_id=p, quantity=1 + i) for i, p in enumerate(products)]
    )
    channels = [grpc.aio.insecure_channel(args.target) for _ in range(args.channels)]
    stubs = [pb_grpc.OrderServiceStub(c) for c in channels]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    order_ids: list[str] = []
    stop_at = 0.0

    async def caller(n: int) -> None:
        stub = stubs[n % len(stubs)]
        i = n
        while time.perf_counter() < stop_at:
            md = [("authorization", f"Bearer {tokens[i % len(tokens)]}")]
            if args.idempotency:
                md.append(("idempotency-key", uuid.uuid4().hex))
            i += args.concurrency
            started = time.perf_counter()
            try:
                reply = await stub.CreateOrder(request, metadata=md, timeout=10)
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] = errors.get(exc.code().name, 0) + 1
                continue
            latencies.append(time.perf_counter() - started)
            order_ids.append(reply.order.order_id)

    # Warm-up: connections, catalog cache, prepared plans.
    stop_at = time.perf_counter() + 1.0
    await asyncio.gather(*(caller(n) for n in range(args.concurrency)))
    latencies.clear()
    order_ids.clear()
    errors.clear()
    pids = parse_pids(args.cpu_pids)
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    stop_at = started + args.duration
    await asyncio.gather(*(caller(n) for n in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    cpu_used = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    for channel in channels:
        await channel.close()

    print(f"CreateOrder: concurrency {args.concurrency}, {args.duration:.0f} s, "
          f"idempotency keys {'on' if args.idempotency else 'off'}")
    print(f"  accepted   {len(latencies)} orders, {len(latencies) / elapsed:.0f} orders/s, "
          f"errors {errors or 0}")
    print(f"  latency    {percentiles(latencies)}")
    for name, used in cpu_used.items():
        per_order = used / max(1, len(latencies)) * 1000
        print(f"  cpu        {name}: {per_order:.2f} ms per order ({used / elapsed:.0%} of a core)")
    print(f"commit->enqueue (outbox created_at -> sent_at) of {len(order_ids)} orders:")
    print(f"  lag        {percentiles(await enqueue_lags(args.database_url, order_ids))}")


async def enqueue_lags(url: str, order_ids: list[str], wait: float = 30.0) -> list[float]:
    ids = [uuid.UUID(o) for o in order_ids]
    deadline = time.monotonic() + wait
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            cur = await conn.execute(
                "SELECT extract(epoch FROM sent_at - created_at)::float8 FROM orders.outbox"
                " WHERE aggregate_id = ANY(%s) AND event_type = 'OrderPlaced'"
                " AND sent_at IS NOT NULL", (ids,))
            rows = [r[0] for r in await cur.fetchall()]
            if len(rows) >= len(ids) or time.monotonic() > deadline:
                if len(rows) < len(ids):
                    print(f"  warning: {len(ids) - len(rows)} events not relayed after {wait}s")
                return rows
            await asyncio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default=os.environ.get("ORDERS_ADDR", "localhost:50050"))
    parser.add_argument("--inventory", default=os.environ.get("INVENTORY_ADDR", "localhost:50051"))
    parser.add_argument("--database-url", default=os.environ.get(
        "ORDERS_DATABASE_URL", os.environ.get("DATABASE_URL", "")))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--cpu-pids", default="",
                        help="name=pid,... processes whose CPU per order to report")
    parser.add_argument("--no-idempotency", dest="idempotency", action="store_false")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL (or ORDERS_DATABASE_URL, or --database-url)")
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
