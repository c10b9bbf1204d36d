"""The `orchestrator` command: one parser, one subcommand per process or admin group.

To add a subcommand, write a `_add_<name>(subparsers)` function that adds its parser and sets
`handler=<function(args) -> exit code>` with `set_defaults`, and append it to SUBCOMMANDS.
Handlers import their modules lazily so `orchestrator --help` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

EPILOG = """\
examples:
  orchestrator api                 # order API on gRPC :50050, metrics :9150
  orchestrator relay               # outbox relay, metrics :9160 (run as many as you like)
  orchestrator worker              # saga worker, metrics :9161 (run as many as you like)
  ORDERS_GRPC_PORT=50060 orchestrator api
  orchestrator sagas list --stuck          # admin: what needs attention (see `sagas --help`)
  orchestrator sagas show ORDER_ID         # the order, its step timeline, payment and stock
  orchestrator sagas retry ORDER_ID --reason "payment back up"
  orchestrator dlq list --pending          # dead-lettered saga messages
  orchestrator outbox status               # relay backlog and heartbeats
  orchestrator breakers list               # circuit breakers per downstream service
  orchestrator orders show ORDER_ID --json

admin exit codes: 0 done, 1 unexpected error, 2 usage, 3 not found, 4 refused (nothing
changed), 5 conflict (a worker holds the saga: retry), 6 PostgreSQL/Redis unavailable.
Admin settings: ORDERS_DATABASE_URL or DATABASE_URL, REDIS_URL, JWT_SECRET, *_ADDR, else the
local stack's .data/stack.env (written by `make run`).
"""

Subparsers = Any  # argparse's _SubParsersAction is private
Handler = Callable[[argparse.Namespace], int]


def _run_api(args: argparse.Namespace) -> int:
    from orchestrator.api import main

    return main()


def _run_relay(args: argparse.Namespace) -> int:
    from orchestrator.relay import main

    return main()


def _run_worker(args: argparse.Namespace) -> int:
    from orchestrator.saga.worker import main

    return main()


def _add_worker(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "worker", help="run sagas from the saga queue (Dramatiq) and the sweeper",
        description="Run the order saga worker: Dramatiq on Redis, metrics on "
                    "WORKER_METRICS_PORT (9161); SAGA_*, BREAKER_*, SWEEP_* variables.",
    )
    parser.set_defaults(handler=_run_worker)


def _add_api(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "api", help="serve the OrderService gRPC API",
        description="Serve shop.orders.v1.OrderService (configured by ORDERS_* variables).",
    )
    parser.set_defaults(handler=_run_api)


def _add_relay(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "relay", help="publish outbox rows to the saga queue",
        description="Move unsent outbox rows to Dramatiq messages on Redis (RELAY_* variables).",
    )
    parser.set_defaults(handler=_run_relay)


def _add_admin_groups(subparsers: Subparsers) -> None:
    """sagas, dlq, outbox, breakers, orders (parsers only; handlers import on use)."""
    from orchestrator.admin import parsers

    for add in (parsers.add_sagas, parsers.add_dlq, parsers.add_outbox, parsers.add_breakers,
                parsers.add_orders):
        add(subparsers)


SUBCOMMANDS: list[Callable[[Subparsers], None]] = [_add_api, _add_relay, _add_worker,
                                                     _add_admin_groups]


def make_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="Order platform orchestrator: order API, outbox relay, saga worker, admin.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_argument_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)
