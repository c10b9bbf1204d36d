"""`orchestrator orders show ID`: the order, its items and its saga's position."""

from __future__ import annotations

import argparse

from orchestrator.admin import store as st
from orchestrator.admin.errors import EXIT_OK, NotFound
from orchestrator.admin.runtime import Context
from orchestrator.admin.sagas import show_order


async def show(ctx: Context, args: argparse.Namespace) -> int:
    conn = await ctx.conn()
    order = await st.find_order(conn, args.id)
    if order is None:
        raise NotFound(f"no order {args.id}")
    items = await st.order_items(conn, order["order_id"])
    data = {"order": order, "items": items}

    def human() -> None:
        show_order(ctx, order, items)
        if order["saga_id"]:
            ctx.out.line(f"saga {order['saga_id']}: {order['saga_status']}"
                         f"{' (paused)' if order['paused'] else ''} at {order['current_step']}"
                         f"  (details: orchestrator sagas show {order['order_id']})")

    ctx.out.emit(data, human)
    return EXIT_OK
