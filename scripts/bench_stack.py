"""Full-stack benchmark of SPEC §9 against a running `make run` stack (prints figures; not a test).

Start the stack with instant payments, then run the benchmark with the launcher's stack.env:

    DEVSTACK_DATA_DIR=/tmp/benchdata PAYMENT_LATENCY_MS=0 make run > /tmp/bench-run.log 2>&1 &
    env $(cat /tmp/benchdata/stack.env | xargs) .venv/bin/python scripts/bench_stack.py \
        --intake 15 --sustain 60 --latency 30 --rate 30

Phases (each starts once the previous one's orders are settled):
  A  CreateOrder from --concurrency closed-loop callers for --intake s: accepted orders/s and
     latency percentiles; the burst then drains through the saga.
  B  confirmed orders/s sustained for --sustain s: closed loop keeping at most --window orders
     in flight (accepted, not yet terminal), CONFIRMED counted per second from orders.updated_at.
  C  --rate orders/s open loop for --latency s: accept->CONFIRMED latency (updated_at of the
     CONFIRMED order minus the CreateOrder send time) and commit->enqueue (outbox created_at ->
     sent_at) percentiles.
CPU per order by process comes from /proc (utime+stime of the launcher's children, PostgreSQL's
backends included, and of this load generator). At the end the SPEC §8 invariant checker runs
over every order the benchmark placed. Orders go to --customers distinct customers so the payment
velocity limit (10 distinct charges per customer per minute) is never what limits the rate
(keep --customers >= confirmed/s * 60 / 8, or start the stack with
PAYMENT_VELOCITY_LIMIT_PER_MINUTE=0). Each order takes one unit of --items distinct products out of
a fresh --products catalog; `--products 3` puts every order on the same three stock rows.
Exit status 1 when the invariant checker reports a problem.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import grpc
import psycopg
import uvloop
from psycopg.rows import TupleRow
from shop.common.v1 import money_pb2
from shop.inventory.v1 import inventory_pb2 as inv_pb
from shop.inventory.v1 import inventory_pb2_grpc as inv_grpc
from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc as pb_grpc

from orchestrator.saga import invariants
from svckit import auth

TERMINAL = ("CONFIRMED", "CANCELLED", "FAILED")
TICK = os.sysconf("SC_CLK_TCK")
Db = psycopg.AsyncConnection[TupleRow]


# --- CPU accounting -----------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, list[str]]:
    """(ppid, fields after the command name) of /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), fields


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")


def _label(argv: list[str]) -> str:
    """A short process name: 'postgres', 'redis', 'api', 'inventory', 'mailsink', ..."""
    if "-m" in argv:
        module, *rest = argv[argv.index("-m") + 1:]
        if module == "orchestrator" and rest and rest[0]:
            return rest[0]
        return {"notify_svc.smtp_sink": "mailsink"}.get(module, module.removesuffix("_svc"))
    exe = Path(argv[0]).name
    return "redis" if exe.startswith("redis") else exe


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                tree.setdefault(_stat(int(entry.name))[0], []).append(int(entry.name))
            except (OSError, IndexError):
                continue  # exited while listing
    return tree


def find_devstack() -> int | None:
    """The pid of the one `python -m devstack` process, if exactly one is running."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = _cmdline(int(entry.name)) if entry.name.isdigit() else []
        except OSError:
            continue
        if "-m" in argv and argv[argv.index("-m") + 1:][:1] == ["devstack"]:
            found.append(int(entry.name))
    return found[0] if len(found) == 1 else None


def cpu_by_process(devstack_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of each launcher child with its descendants (PostgreSQL backends)."""
    usage = {"bench": time.process_time()}
    if devstack_pid is None:
        return usage
    tree = _children()
    for root in tree.get(devstack_pid, []):
        try:
            _, fields = _stat(root)
            # The root's cutime/cstime: descendants already reaped (closed backends).
            total = sum(int(v) for v in fields[11:15])
            stack = list(tree.get(root, []))
            while stack:
                pid = stack.pop()
                stack += tree.get(pid, [])
                try:
                    total += sum(int(v) for v in _stat(pid)[1][11:13])
                except (OSError, IndexError):
                    continue  # a backend that just exited: its time moves to the root's cutime
            name = _label(_cmdline(root))
        except (OSError, IndexError):
            continue
        usage[name] = usage.get(name, 0.0) + total / TICK
    return usage


def print_cpu(before: dict[str, float], after: dict[str, float], orders: int,
              elapsed: float, what: str) -> None:
    used = {k: after[k] - before[k] for k in after if k in before}
    total = sum(used.values())
    print(f"  CPU per {what} order ({orders} orders, {elapsed:.1f} s): "
          f"total {total / max(1, orders) * 1000:.2f} ms, {total / elapsed:.2f} cores busy")
    parts = [f"{k} {v / max(1, orders) * 1000:.2f}"
             for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if v > 0]
    print(f"    ms by process: {', '.join(parts)}")


# --- helpers ------------------------------------------------------------------------------------

def percentiles(values: Sequence[float], unit: float = 1000.0, suffix: str = "ms") -> str:
    if not values:
        return "n/a"
    s = sorted(values)

    def at(q: float) -> str:
        return f"{s[min(len(s) - 1, int(q * len(s)))] * unit:.0f}"

    return (f"p50 {at(0.5)} {suffix}, p90 {at(0.9)}, p99 {at(0.99)}, max {s[-1] * unit:.0f}, "
            f"mean {statistics.fmean(s) * unit:.0f} (n={len(s)})")


class Load:
    """CreateOrder callers over a few channels, customers taken round-robin."""

    def __init__(self, args: argparse.Namespace, secret: str, products: list[str]) -> None:
        run = uuid.uuid4().hex[:6]
        self.tokens = [auth.issue_token(secret, f"bench-{run}-{i}", "customer", ttl_seconds=7200,
                                        email=f"bench-{run}-{i}@example.com")
                       for i in range(args.customers)]
        # Each order: --items distinct products drawn from the pool (prebuilt, cycled).
        rng = random.Random(7)
        self.requests = [
            pb.CreateOrderRequest(items=[pb.OrderLine(product_id=p, quantity=1)
                                         for p in rng.sample(products, args.items)])
            for _ in range(1024)]
        self.channels = [grpc.aio.insecure_channel(args.target) for _ in range(args.channels)]
        self.stubs = [pb_grpc.OrderServiceStub(c) for c in self.channels]
        self.n = 0
        self.errors: dict[str, int] = {}
        self.latencies: list[float] = []
        self.every_order: list[str] = []

    async def create(self) -> str | None:
        """Place one order; its id, or None (the error is counted)."""
        self.n += 1
        md = (("authorization", f"Bearer {self.tokens[self.n % len(self.tokens)]}"),
              ("idempotency-key", uuid.uuid4().hex))
        started = time.perf_counter()
        try:
            reply = await self.stubs[self.n % len(self.stubs)].CreateOrder(
                self.requests[self.n % len(self.requests)], metadata=md, timeout=10)
        except grpc.aio.AioRpcError as exc:
            self.errors[exc.code().name] = self.errors.get(exc.code().name, 0) + 1
            return None
        self.latencies.append(time.perf_counter() - started)
        oid: str = reply.order.order_id
        self.every_order.append(oid)
        return oid

    def reset(self) -> None:
        self.errors, self.latencies = {}, []

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


async def create_products(secret: str, target: str, count: int) -> list[str]:
    token = auth.issue_token(secret, "bench", "admin", ttl_seconds=3600)
    ids = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = inv_grpc.InventoryServiceStub(channel)
        for i in range(count):
            created = await stub.CreateProduct(
                inv_pb.CreateProductRequest(
                    sku=f"BENCH-{uuid.uuid4().hex[:10]}", name=f"Benchmark product {i}",
                    price=money_pb2.Money(currency_code="EUR", amount_minor=1000 + i),
                    initial_stock=1_000_000),
                metadata=[("authorization", f"Bearer {token}")], timeout=10)
            ids.append(created.product.product_id)
    return ids


async def settle(db: Db, ids: Sequence[str],
                 timeout: float) -> int:
    """Wait until every order is terminal (or timeout); how many are still not."""
    uids = [uuid.UUID(i) for i in ids]
    deadline = time.monotonic() + timeout
    while True:
        cur = await db.execute("SELECT count(*) FROM orders.orders WHERE order_id = ANY(%s)"
                               " AND status NOT IN ('CONFIRMED', 'CANCELLED', 'FAILED')", (uids,))
        row = await cur.fetchone()
        left = int(row[0]) if row else 0
        if left == 0 or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.25)


async def statuses(db: Db, ids: Sequence[str]
                   ) -> dict[str, int]:
    cur = await db.execute("SELECT status, count(*) FROM orders.orders WHERE order_id = ANY(%s)"
                           " GROUP BY status", ([uuid.UUID(i) for i in ids],))
    return {str(s): int(n) for s, n in await cur.fetchall()}


# --- phases -------------------------------------------------------------------------------------

async def phase_a(args: argparse.Namespace, load: Load, db: Db) -> None:
    print(f"\n[A] intake: {args.concurrency} concurrent CreateOrder callers "
          f"for {args.intake:.0f} s")
    stop_at = time.perf_counter() + 1.0  # warm-up: connections, catalog cache

    async def caller() -> None:
        while time.perf_counter() < stop_at:
            await load.create()

    await asyncio.gather(*(caller() for _ in range(args.concurrency)))
    await settle(db, load.every_order, args.settle_timeout)
    load.reset()
    first = len(load.every_order)
    cpu0, started = cpu_by_process(args.devstack_pid), time.perf_counter()
    stop_at = started + args.intake
    await asyncio.gather(*(caller() for _ in range(args.concurrency)))
    intake = time.perf_counter() - started
    cpu1, ids = cpu_by_process(args.devstack_pid), load.every_order[first:]
    print(f"  accepted {len(ids)} orders: {len(ids) / intake:.0f} orders/s, "
          f"errors {load.errors or 'none'}")
    print(f"  CreateOrder latency {percentiles(load.latencies)}")
    print_cpu(cpu0, cpu1, len(ids), intake, "accepted (intake window)")
    left = await settle(db, ids, args.settle_timeout)
    drained = time.perf_counter() - started
    print(f"  backlog drained {drained - intake:.1f} s after intake ended "
          f"({len(ids) / drained:.0f} orders/s end to end), {left} not settled; "
          f"statuses {await statuses(db, ids)}")
    print_cpu(cpu0, cpu_by_process(args.devstack_pid), len(ids), drained, "settled")


async def phase_b(args: argparse.Namespace, load: Load,
                  db: Db) -> None:
    print(f"\n[B] sustained: at most {args.window} orders in flight, {args.sustain:.0f} s measured "
          f"after {args.warmup:.0f} s warm-up")
    slots = asyncio.Semaphore(args.window)
    in_flight: set[str] = set()
    first = len(load.every_order)
    load.reset()
    stop_at = time.perf_counter() + args.warmup + args.sustain

    async def caller() -> None:
        while True:
            await slots.acquire()
            if time.perf_counter() >= stop_at:
                slots.release()
                return
            oid = await load.create()
            if oid is None:
                slots.release()
            else:
                in_flight.add(oid)

    async def reaper() -> None:
        while time.perf_counter() < stop_at or in_flight:
            await asyncio.sleep(0.1)
            if not in_flight:
                continue
            cur = await db.execute(
                "SELECT order_id::text FROM orders.orders WHERE order_id = ANY(%s)"
                " AND status IN ('CONFIRMED', 'CANCELLED', 'FAILED')",
                ([uuid.UUID(o) for o in in_flight],))
            for (oid,) in await cur.fetchall():
                in_flight.discard(str(oid))
                slots.release()
            if time.perf_counter() > stop_at + args.settle_timeout:
                for _ in range(args.concurrency):
                    slots.release()  # let blocked callers see the stop
                return

    async def measure() -> tuple[float, float, dict[str, float], dict[str, float]]:
        await asyncio.sleep(args.warmup)
        t0, cpu0 = time.time(), cpu_by_process(args.devstack_pid)
        await asyncio.sleep(args.sustain)
        return t0, time.time(), cpu0, cpu_by_process(args.devstack_pid)

    measured = asyncio.create_task(measure())
    await asyncio.gather(measured, reaper(), *(caller() for _ in range(args.concurrency)))
    t0, t1, cpu0, cpu1 = measured.result()
    ids = load.every_order[first:]
    await settle(db, ids, args.settle_timeout)
    cur = await db.execute(
        "SELECT floor(extract(epoch FROM updated_at))::bigint, count(*) FROM orders.orders"
        " WHERE order_id = ANY(%s) AND status = 'CONFIRMED' AND updated_at >= to_timestamp(%s)"
        " AND updated_at < to_timestamp(%s) GROUP BY 1",
        ([uuid.UUID(i) for i in ids], t0, t1))
    per_second = {int(s): int(n) for s, n in await cur.fetchall()}
    buckets = [per_second.get(s, 0) for s in range(int(t0) + 1, int(t1))]  # whole seconds only
    confirmed = sum(per_second.values())
    done = await statuses(db, ids)
    print(f"  confirmed {confirmed} orders in {t1 - t0:.0f} s: {confirmed / (t1 - t0):.1f} "
          f"orders/s (per second: min {min(buckets, default=0)}, median "
          f"{statistics.median(buckets) if buckets else 0:.0f}, max {max(buckets, default=0)})")
    print(f"  CreateOrder errors {load.errors or 'none'}; {len(ids)} orders placed, statuses "
          f"{done}, non-CONFIRMED {len(ids) - done.get('CONFIRMED', 0)}")
    print_cpu(cpu0, cpu1, confirmed, t1 - t0, "confirmed")


async def phase_c(args: argparse.Namespace, load: Load,
                  db: Db) -> None:
    total = int(args.rate * args.latency)
    print(f"\n[C] latency: open loop at {args.rate:g} orders/s for {args.latency:.0f} s "
          f"({total} orders)")
    load.reset()
    sent: dict[str, float] = {}
    begin = time.perf_counter() + 0.1

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, begin + i / args.rate - time.perf_counter()))
        at = time.time()
        oid = await load.create()
        if oid is not None:
            sent[oid] = at

    cpu0 = cpu_by_process(args.devstack_pid)
    await asyncio.gather(*(one(i) for i in range(total)))
    left = await settle(db, list(sent), args.settle_timeout)
    elapsed = time.perf_counter() - begin
    cpu1 = cpu_by_process(args.devstack_pid)
    cur = await db.execute(
        "SELECT o.order_id::text, o.status, extract(epoch FROM o.updated_at)::float8,"
        " extract(epoch FROM x.sent_at - x.created_at)::float8 FROM orders.orders o"
        " LEFT JOIN orders.outbox x ON x.aggregate_id = o.order_id"
        " AND x.event_type = 'OrderPlaced' WHERE o.order_id = ANY(%s)",
        ([uuid.UUID(o) for o in sent],))
    rows = await cur.fetchall()
    confirm = [float(u) - sent[str(o)] for o, s, u, _ in rows if s == "CONFIRMED"]
    enqueue = [float(lag) for *_, lag in rows if lag is not None]
    print(f"  placed {len(sent)}, CreateOrder errors {load.errors or 'none'}, "
          f"{left} not settled, statuses {await statuses(db, list(sent))}")
    print(f"  CreateOrder latency      {percentiles(load.latencies)}")
    print(f"  accept -> CONFIRMED      {percentiles(confirm)}")
    print(f"  commit -> enqueue        {percentiles(enqueue)}")
    print_cpu(cpu0, cpu1, len(sent), elapsed, "settled")


async def run(args: argparse.Namespace) -> int:
    secret = os.environ["JWT_SECRET"]
    products = await create_products(secret, args.inventory, args.products)
    load = Load(args, secret, products)
    if args.devstack_pid is None:
        args.devstack_pid = find_devstack()
    print(f"stack: orders {args.target}, inventory {args.inventory}, {args.customers} customers, "
          f"{args.items} of {args.products} products per order, {args.channels} channels, "
          f"devstack pid {args.devstack_pid or 'unknown (no CPU)'}")
    async with await psycopg.AsyncConnection.connect(args.database_url, autocommit=True) as db:
        try:
            if args.intake > 0:
                await phase_a(args, load, db)
            if args.sustain > 0:
                await phase_b(args, load, db)
            if args.latency > 0:
                await phase_c(args, load, db)
        finally:
            await load.close()
        left = await settle(db, load.every_order, args.settle_timeout)
        cur = await db.execute(
            "SELECT t.step, t.outcome, left(coalesce(t.error, ''), 70), count(*)"
            " FROM orders.saga_steps t JOIN orders.sagas s USING (saga_id)"
            " WHERE s.order_id = ANY(%s) AND t.outcome <> 'OK' GROUP BY 1, 2, 3 ORDER BY 4 DESC",
            ([uuid.UUID(o) for o in load.every_order],))
        retries = await cur.fetchall()
    print(f"\nsaga steps not OK: {sum(int(r[3]) for r in retries) or 'none'}")
    for step, outcome, error, count in retries[:10]:
        print(f"  {count:>6} {step} {outcome} {error}")
    problems = await invariants.check(invariants.Databases.single(args.database_url),
                                      order_ids=load.every_order, product_ids=products)
    print(f"\ninvariants (SPEC §8) over {len(load.every_order)} orders, {left} not settled: "
          f"{'OK' if not problems else f'{len(problems)} problems'}")
    for problem in problems[:20]:
        print(f"  {problem}")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default=os.environ.get("ORDERS_ADDR", "localhost:50050"))
    parser.add_argument("--inventory", default=os.environ.get("INVENTORY_ADDR", "localhost:50051"))
    parser.add_argument("--database-url", default=os.environ.get(
        "ORDERS_DATABASE_URL", os.environ.get("DATABASE_URL", "")))
    parser.add_argument("--devstack-pid", type=int, default=None,
                        help="pid of `python -m devstack` (found in /proc when unique)")
    parser.add_argument("--concurrency", type=int, default=16, help="callers (A and B)")
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--customers", type=int, default=2000,
                        help="distinct customers (>= peak confirmed/s * 60 / 8)")
    parser.add_argument("--products", type=int, default=30, help="catalog created for the run")
    parser.add_argument("--items", type=int, default=3, help="distinct products per order")
    parser.add_argument("--intake", type=float, default=15.0, help="phase A seconds (0: skip)")
    parser.add_argument("--sustain", type=float, default=60.0, help="phase B seconds (0: skip)")
    parser.add_argument("--warmup", type=float, default=5.0, help="phase B warm-up seconds")
    parser.add_argument("--window", type=int, default=100, help="phase B orders in flight")
    parser.add_argument("--latency", type=float, default=30.0, help="phase C seconds (0: skip)")
    parser.add_argument("--rate", type=float, default=30.0, help="phase C orders/s")
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    args = parser.parse_args()
    if not args.database_url or not os.environ.get("JWT_SECRET"):
        parser.error("set DATABASE_URL and JWT_SECRET (e.g. env $(cat .data/stack.env | xargs))")
    raise SystemExit(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
