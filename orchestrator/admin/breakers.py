"""`orchestrator breakers list | reset NAME`: the saga's circuit breakers, kept in Redis."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

from orchestrator.admin import store as st
from orchestrator.admin.errors import EXIT_OK, NotFound
from orchestrator.admin.render import duration
from orchestrator.admin.runtime import Context
from orchestrator.saga import breaker
from orchestrator.saga.definition import NOTIFY, PAYMENT, STOCK

KNOWN = (STOCK, PAYMENT, NOTIFY)


async def list_(ctx: Context, args: argparse.Namespace) -> int:
    found = {b.name: b for b in await breaker.list_breakers(await ctx.redis())}
    now_ms = time.time() * 1000
    rows = []
    for name in sorted(set(KNOWN) | set(found)):
        b = found.get(name, breaker.BreakerState(name, "closed", 0))
        remaining = (b.open_until_ms - now_ms) / 1000 if b.state == "open" else None
        rows.append(asdict(b) | {"open_for_seconds": max(remaining, 0.0)
                                 if remaining is not None else None})

    def human() -> None:
        ctx.out.table(["breaker", "state", "failures", "open for"], [
            (r["name"], r["state"], r["failures"],
             "-" if r["open_for_seconds"] is None else
             ("trial due" if r["open_for_seconds"] <= 0 else duration(r["open_for_seconds"])))
            for r in rows])

    ctx.out.emit({"breakers": [{k: v for k, v in r.items() if k != "allowed"} for r in rows]},
                 human)
    return EXIT_OK


async def reset(ctx: Context, args: argparse.Namespace) -> int:
    redis = await ctx.redis()
    found = {b.name: b for b in await breaker.list_breakers(redis)}
    if args.name not in found and args.name not in KNOWN:
        raise NotFound(f"no breaker {args.name!r} (known: {', '.join(KNOWN)})")
    before = found[args.name].state if args.name in found else "closed"
    if args.dry_run:
        ctx.out.emit({"name": args.name, "before": before, "after": "closed", "dry_run": True},
                     lambda: ctx.out.line(f"would reset breaker {args.name}: {before} -> closed"))
        return EXIT_OK
    await breaker.reset(redis, args.name)
    await st.record(await ctx.conn(), actor=ctx.actor, verb="breakers reset",
                    target=args.name, order_id=None, reason=args.reason, before=before,
                    after="closed")
    ctx.out.emit({"name": args.name, "before": before, "after": "closed"},
                 lambda: ctx.out.line(f"breaker {args.name}: {before} -> closed"))
    return EXIT_OK
