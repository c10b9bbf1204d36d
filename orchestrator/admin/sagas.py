"""`orchestrator sagas list | show | retry | compensate | pause | resume | fail`."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.admin import queue, repairs, services
from orchestrator.admin import store as st
from orchestrator.admin.errors import (
    EXIT_CONFLICT,
    EXIT_OK,
    EXIT_REFUSED,
    Conflict,
    NotFound,
    Refused,
    UsageError,
)
from orchestrator.admin.render import duration, money, short, when
from orchestrator.admin.runtime import Context


def saga_filter(args: argparse.Namespace) -> st.SagaFilter:
    return st.SagaFilter(status=args.status, stuck=args.stuck, stuck_grace=args.stuck_grace,
                         older_than=args.older_than, order_id=args.order, limit=args.limit)


def _status(saga: dict[str, Any]) -> str:
    label = str(saga["status"])
    if saga["paused"]:
        label += " (paused)"
    if saga.get("past_deadline"):
        label += " (past deadline)"
    return label


def _next(saga: dict[str, Any]) -> str:
    if saga["status"] not in st.ACTIVE or saga["next_in_s"] is None:
        return "-"
    return "now" if saga["next_in_s"] <= 0 else "in " + duration(saga["next_in_s"])


def _summary(saga: dict[str, Any]) -> dict[str, Any]:
    keys = ("saga_id", "order_id", "status", "paused", "current_step", "attempt",
            "cancel_requested", "cancel_reason", "compensate_from", "compensation_reason",
            "last_error", "next_attempt_at", "deadline_at", "created_at", "updated_at",
            "version", "order_status", "past_deadline", "leased")
    return {k: saga.get(k) for k in keys} | {"age_seconds": saga.get("age_s")}


# --- reads ----------------------------------------------------------------------------------

async def list_(ctx: Context, args: argparse.Namespace) -> int:
    sagas = await st.list_sagas(await ctx.conn(), saga_filter(args))
    out = ctx.out

    def human() -> None:
        if not sagas:
            out.line("no saga matches")
            return
        out.table(["order", "status", "step", "try", "age", "next", "last error"], [
            (s["order_id"], _status(s), s["current_step"], s["attempt"], duration(s["age_s"]),
             _next(s), short(s["last_error"], 50))
            for s in sagas])

    out.emit({"sagas": [_summary(s) for s in sagas]}, human)
    return EXIT_OK


async def show(ctx: Context, args: argparse.Namespace) -> int:
    conn = await ctx.conn()
    saga = await st.find_saga(conn, args.id)
    if saga is None:
        raise NotFound(f"no saga for order or saga id {args.id}")
    order = await st.find_order(conn, str(saga["order_id"]))
    assert order is not None
    items = await st.order_items(conn, saga["order_id"])
    steps = await st.saga_steps(conn, saga["saga_id"])
    audit = await st.audit_of(conn, saga["order_id"])
    produced = await services.produced(ctx.settings, str(saga["order_id"]), ctx.actor)
    data = {"saga": _summary(saga), "order": _order(order), "items": items, "steps": steps,
            "repairs": audit, **produced}
    ctx.out.emit(data, lambda: _show_human(ctx, data))
    return EXIT_OK


def _order(order: dict[str, Any]) -> dict[str, Any]:
    keys = ("order_id", "customer_id", "status", "cancel_reason", "currency", "total_minor",
            "payment_method", "locale", "contact_email", "created_at", "updated_at")
    return {k: order.get(k) for k in keys}


def _show_human(ctx: Context, data: dict[str, Any]) -> None:
    out, saga, order = ctx.out, data["saga"], data["order"]
    show_order(ctx, order, data["items"])
    out.heading("Saga")
    out.fields([
        ("saga", saga["saga_id"]), ("status", _status(saga)),
        ("current step", f"{saga['current_step']} (attempt {saga['attempt']})"),
        ("next attempt", when(saga["next_attempt_at"])), ("deadline", when(saga["deadline_at"])),
        ("cancel requested", f"yes ({saga['cancel_reason']})" if saga["cancel_requested"]
         else "no"),
        ("compensation", f"{saga['compensation_reason']} (steps before"
                         f" {saga['compensate_from']})" if saga["compensation_reason"] else None),
        ("last error", saga["last_error"]),
    ])
    out.heading("Timeline")
    if data["steps"]:
        out.table(["finished", "step", "dir", "attempt", "outcome", "ms", "error"], [
            (s["finished_at"].strftime("%H:%M:%S.%f")[:-3], s["step"], s["direction"],
             s["attempt"], s["outcome"], f"{s['duration_ms']:.0f}", short(s["error"], 60))
            for s in data["steps"]])
    else:
        out.line("no step has run yet")
    out.heading("Produced")
    unavailable = data["unavailable"]
    res = data["reservation"]
    if "reservation" in unavailable:
        out.line(f"reservation: unavailable ({unavailable['reservation']})")
    elif res:
        out.line(f"reservation: {res.get('status', '?')}, "
                 f"{len(res.get('items', []))} product(s), expires {res.get('expire_time', '-')}")
    else:
        out.line("reservation: none")
    if "payments" in unavailable:
        out.line(f"payments: unavailable ({unavailable['payments']})")
    for p in data["payments"] or ([] if "payments" in unavailable else [None]):
        if p is None:
            out.line("payments: none")
            continue
        amount = p.get("amount", {})
        refunded = p.get("refunded_amount", {}).get("amount_minor")
        out.line(f"payment {p.get('payment_id')}: {p.get('status')}, "
                 f"{money(int(amount.get('amount_minor', 0)), amount.get('currency_code'))}"
                 + (f", refunded {money(int(refunded), amount.get('currency_code'))}"
                    if refunded else ""))
    if "notifications" in unavailable:
        out.line(f"notifications: unavailable ({unavailable['notifications']})")
    for n in data["notifications"] or ([] if "notifications" in unavailable else [None]):
        if n is None:
            out.line("notifications: none")
            continue
        deliveries = ", ".join(f"{d.get('channel', '?')} {d.get('status', '?')}"
                               for d in n.get("deliveries", []))
        out.line(f"notification {n.get('template')}: {deliveries}")
    if data["repairs"]:
        out.heading("Repairs")
        out.table(["at", "actor", "verb", "before", "after", "reason"], [
            (a["at"].strftime("%Y-%m-%d %H:%M:%S"), a["actor"], a["verb"], a["before_status"],
             a["after_status"], short(a["reason"], 40)) for a in data["repairs"]])


def show_order(ctx: Context, order: dict[str, Any], items: list[dict[str, Any]]) -> None:
    out = ctx.out
    out.line(f"Order {order['order_id']}", style="bold")
    out.fields([
        ("status", order["status"] + (f" ({order['cancel_reason']})"
                                      if order["cancel_reason"] else "")),
        ("customer", order["customer_id"]), ("total", money(order["total_minor"],
                                                             order["currency"])),
        ("payment method", order["payment_method"]), ("created", when(order["created_at"])),
        ("updated", when(order["updated_at"])),
    ])
    out.table(["sku", "name", "qty", "unit price", "line total"], [
        (i["sku"], i["name"], i["quantity"], money(i["unit_price_minor"], order["currency"]),
         money(i["line_total_minor"], order["currency"])) for i in items])


# --- repairs --------------------------------------------------------------------------------

async def repair(ctx: Context, args: argparse.Namespace) -> int:
    """One saga by id, or every saga the filters select (bulk form)."""
    verb: str = args.verb
    conn = await ctx.conn()
    if args.id:
        saga = await st.find_saga(conn, args.id)
        if saga is None:
            raise NotFound(f"no saga for order or saga id {args.id}")
        targets = [saga]
    else:
        flt = saga_filter(args)
        if flt.empty():
            raise UsageError(f"sagas {verb}: give a saga or order id, or at least one filter"
                             " (--status, --stuck, --older-than, --order)")
        targets = await st.list_sagas(conn, flt)
    results = [await _repair_one(ctx, verb, saga, args) for saga in targets]
    to_send = [queue.advance(str(r["order_id"]), f"Admin{verb.title()}")
               for r in results if r["outcome"] == "done" and r["enqueue"]]
    send_error = None
    if to_send:
        try:
            await queue.send(ctx.settings.redis_url, to_send)
        except Exception as exc:  # the change is committed: the sweeper will pick the saga up
            send_error = f"could not enqueue ({type(exc).__name__}: {exc}); the worker's" \
                         " sweeper re-enqueues due sagas within SWEEP_GRACE"
    for r in results:
        r["enqueued"] = r.pop("enqueue") and r["outcome"] == "done" and send_error is None
    ctx.out.emit({"verb": verb, "dry_run": args.dry_run, "results": results,
                  "enqueue_error": send_error}, lambda: _repair_human(ctx, verb, results))
    if send_error:
        ctx.out.error(send_error)
    if args.id and results[0]["outcome"] in ("refused", "conflict"):
        ctx.out.error(results[0]["message"])
        return EXIT_REFUSED if results[0]["outcome"] == "refused" else EXIT_CONFLICT
    if any(r["outcome"] in ("refused", "conflict") for r in results):
        return EXIT_REFUSED
    return EXIT_OK


async def _repair_one(ctx: Context, verb: str, saga: dict[str, Any], args: argparse.Namespace
                      ) -> dict[str, Any]:
    result: dict[str, Any] = {
        "saga_id": saga["saga_id"], "order_id": saga["order_id"], "before": saga["status"],
        "paused_before": saga["paused"], "step": saga["current_step"],
        "attempt": saga["attempt"], "after": None, "outcome": "", "message": "",
        "enqueue": False}
    try:
        plan = repairs.plan(verb, saga, args.reason)
        if saga["leased"]:
            raise Conflict(f"saga {saga['saga_id']} (order {saga['order_id']}): a worker is"
                           " advancing it right now; look again in a few seconds")
    except Refused as exc:
        return result | {"outcome": "refused", "message": str(exc)}
    except Conflict as exc:
        return result | {"outcome": "conflict", "message": str(exc)}
    result["after"] = plan.after
    if args.dry_run:
        return result | {"outcome": "would", "message": f"would {verb}"}
    row = await st.try_change(await ctx.conn(), saga, plan.change, actor=ctx.actor,
                              verb=f"sagas {verb}", reason=args.reason)
    if row is None:
        return result | {"outcome": "conflict", "message":
                         f"saga {saga['saga_id']} changed while being repaired (a worker moved"
                         " it); look again and retry"}
    message = f"{verb} done"
    if saga["past_deadline"] and plan.after == "RUNNING" and plan.enqueue:
        message += ("; it is past its deadline, so the worker compensates it"
                    " (PROCESSING_TIMEOUT)")
    return result | {"outcome": "done", "message": message, "enqueue": plan.enqueue}


def _repair_human(ctx: Context, verb: str, results: list[dict[str, Any]]) -> None:
    if not results:
        ctx.out.line("no saga matches")
        return
    ctx.out.table(["order", "step", "before", "after", "outcome", "message"], [
        (r["order_id"], f"{r['step']} #{r['attempt']}",
         r["before"] + (" (paused)" if r["paused_before"] else ""), r["after"] or "-",
         r["outcome"] + (" + enqueued" if r.get("enqueued") else ""),
         "" if r["outcome"] == "would" or r["message"] == f"{verb} done" else r["message"])
        for r in results])
