"""`orchestrator outbox status`: backlog, lag and the relays' heartbeats."""

from __future__ import annotations

import argparse

from orchestrator.admin import store as st
from orchestrator.admin.errors import EXIT_OK
from orchestrator.admin.render import duration
from orchestrator.admin.runtime import Context


async def status(ctx: Context, args: argparse.Namespace) -> int:
    data = await st.outbox_status(await ctx.conn(), args.alive_within)
    out = ctx.out

    def human() -> None:
        out.fields([
            ("backlog", f"{data['backlog']} unsent row(s)"),
            ("oldest unsent", duration(data["oldest_unsent_s"])
             if data["oldest_unsent_s"] is not None else "none"),
            ("sent in the last minute", data["sent_last_minute"]),
            ("relays alive", f"{data['relays_alive']} of {len(data['relays'])}"
                             f" (heartbeat within {duration(args.alive_within)})"),
        ])
        if data["relays"]:
            out.table(["relay", "host", "pid", "alive", "last seen", "last batch", "batch age"], [
                (r["relay_id"], r["host"], r["pid"], "yes" if r["alive"] else "NO",
                 duration(r["seen_s"]) + " ago", r["last_batch_size"],
                 duration(r["batch_s"]) + " ago" if r["batch_s"] is not None else "-")
                for r in data["relays"]])

    out.emit(data, human)
    return EXIT_OK
