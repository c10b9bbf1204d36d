"""`orchestrator dlq list | show ID | redrive ID | redrive --all | purge`."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from typing import Any

from orchestrator.admin import queue
from orchestrator.admin import store as st
from orchestrator.admin.errors import EXIT_OK, EXIT_REFUSED, NotFound, Unavailable, UsageError
from orchestrator.admin.render import duration, short
from orchestrator.admin.runtime import Context


def _age(row: dict[str, Any]) -> str:
    return str(row["created_at"].strftime("%Y-%m-%d %H:%M:%S"))


async def list_(ctx: Context, args: argparse.Namespace) -> int:
    rows = await st.list_dead_letters(await ctx.conn(), pending_only=args.pending,
                                      order_id=args.order, limit=args.limit)

    def human() -> None:
        if not rows:
            ctx.out.line("no dead letters")
            return
        ctx.out.table(["id", "order", "saga", "attempts", "created", "redriven", "error"], [
            (r["id"], r["order_id"] or "-", r["saga_status"] or "-", r["attempts"], _age(r),
             r["redriven_at"].strftime("%Y-%m-%d %H:%M:%S") if r["redriven_at"] else "-",
             short(r["error"], 50)) for r in rows])

    ctx.out.emit({"dead_letters": rows}, human)
    return EXIT_OK


async def show(ctx: Context, args: argparse.Namespace) -> int:
    row = await st.get_dead_letter(await ctx.conn(), args.id)
    if row is None:
        raise NotFound(f"no dead letter {args.id}")

    def human() -> None:
        ctx.out.fields([(k, row[k]) for k in (
            "id", "message_id", "order_id", "saga_id", "saga_status", "queue_name",
            "actor_name", "attempts", "created_at", "redriven_at", "error")])
        ctx.out.heading("Message")
        for line in json.dumps(row["message"], indent=2, default=str).splitlines():
            ctx.out.line(line)

    ctx.out.emit({"dead_letter": row}, human)
    return EXIT_OK


async def redrive(ctx: Context, args: argparse.Namespace) -> int:
    conn = await ctx.conn()
    if args.id and args.all:
        raise UsageError("dlq redrive: give an id or --all, not both")
    if args.id:
        row = await st.get_dead_letter(conn, args.id)
        if row is None:
            raise NotFound(f"no dead letter {args.id}")
        rows = [row]
    elif args.all:
        rows = await st.pending_dead_letters(conn, args.limit, args.order)
    else:
        raise UsageError("dlq redrive: give a dead letter id, or --all")
    results: list[dict[str, Any]] = []
    sent = 0
    for row in rows:
        result = {"id": row["id"], "order_id": row["order_id"], "message_id": row["message_id"]}
        if row["redriven_at"] is not None:
            results.append(result | {"outcome": "refused", "message":
                                     f"dead letter {row['id']} was already redriven at"
                                     f" {row['redriven_at']}"})
            continue
        if args.dry_run:
            results.append(result | {"outcome": "would"})
            continue
        message = queue.redrive(row["message"])
        # Claim it first (a concurrent redrive of the same letter sends nothing), then send.
        if not await st.mark_redriven(conn, row["id"]):
            results.append(result | {"outcome": "refused", "message": "redriven meanwhile"})
            continue
        if sent:
            await asyncio.sleep(1.0 / args.rate)  # a limited rate: do not flood the workers
        try:
            await queue.send(ctx.settings.redis_url, [message])
        except Exception as exc:
            await st.unmark_redriven(conn, row["id"])
            raise Unavailable(f"could not send dead letter {row['id']} to Redis"
                              f" ({type(exc).__name__}: {exc}); {sent} sent before it") from None
        sent += 1
        await st.record(conn, actor=ctx.actor, verb="dlq redrive", target=str(row["id"]),
                        order_id=_uuid_or_none(row["order_id"]), reason=args.reason, before="DEAD",
                        after="REDRIVEN", details={"new_message_id": message.message_id,
                                                   "old_message_id": row["message_id"]})
        results.append(result | {"outcome": "done", "new_message_id": message.message_id})

    def human() -> None:
        if not results:
            ctx.out.line("no dead letters to redrive")
            return
        ctx.out.table(["id", "order", "outcome", "message"], [
            (r["id"], r["order_id"] or "-", r["outcome"], r.get("message", ""))
            for r in results])

    ctx.out.emit({"dry_run": args.dry_run, "results": results}, human)
    refused = [r for r in results if r["outcome"] == "refused"]
    if refused and args.id:
        ctx.out.error(refused[0]["message"])
    return EXIT_REFUSED if refused else EXIT_OK


def _uuid_or_none(text: str | None) -> str | None:
    try:
        return str(uuid.UUID(text)) if text else None
    except ValueError:
        return None


async def purge(ctx: Context, args: argparse.Namespace) -> int:
    if not (args.yes or args.dry_run):
        raise UsageError("dlq purge deletes dead letters for good: add --yes (or --dry-run to"
                         " count them)")
    conn = await ctx.conn()
    count = await st.purge_dead_letters(conn, args.older_than, dry_run=args.dry_run)
    if not args.dry_run and count:
        await st.record(conn, actor=ctx.actor, verb="dlq purge", target="dead_letters",
                        order_id=None, reason=args.reason, before=None, after=None,
                        details={"older_than_seconds": args.older_than, "deleted": count})
    verb = "would delete" if args.dry_run else "deleted"
    ctx.out.emit({"dry_run": args.dry_run, "older_than_seconds": args.older_than,
                  "count": count},
                 lambda: ctx.out.line(f"{verb} {count} dead letter(s) older than"
                                      f" {duration(args.older_than)}"))
    return EXIT_OK
