"""Argument parsers of the admin groups (argparse only: handlers are imported when they run)."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

from orchestrator.admin.errors import EXIT_CODES_HELP
from svckit.config import parse_duration

STATUSES = ("RUNNING", "COMPENSATING", "COMPLETED", "COMPENSATED", "FAILED")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float:
    """'5/s', '5' (messages per second)."""
    value = text.removesuffix("/s")
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (use e.g. 10/s)") from None
    if rate <= 0:
        raise argparse.ArgumentTypeError("the rate must be > 0")
    return rate


def _handler(target: str, args: argparse.Namespace) -> int:
    from orchestrator.admin.runtime import run

    return run(target, args)


def _parent_json() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    return p


def _parent_filters() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("filters")
    g.add_argument("--status", action="append", type=str.upper, choices=STATUSES,
                   help="saga status (repeatable)")
    g.add_argument("--stuck", action="store_true",
                   help="not finished and overdue (no progress for --stuck-grace) or past its"
                        " deadline")
    g.add_argument("--stuck-grace", type=_duration, default=30.0, metavar="DURATION",
                   help="how long overdue counts as stuck (default 30s)")
    g.add_argument("--older-than", type=_duration, metavar="DURATION",
                   help="created at least this long ago, e.g. 15m, 2h")
    g.add_argument("--order", metavar="ORDER_ID", help="this order's saga only")
    g.add_argument("--limit", type=int, default=50, help="at most N sagas (default 50)")
    return p


def _parent_repair() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--actor", help="who is repairing, for the audit (default $USER)")
    p.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    return p


def _group(subparsers: Any, name: str, help_: str, epilog: str) -> Any:
    parser = subparsers.add_parser(name, help=help_, description=help_,
                                   epilog=epilog + "\n" + EXIT_CODES_HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser.add_subparsers(dest="action", metavar="ACTION", required=True)


def _leaf(group: Any, name: str, target: str, help_: str, parents: list[Any]) -> Any:
    parser = group.add_parser(name, help=help_, description=help_, parents=parents,
                              epilog=EXIT_CODES_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=partial(_handler, target))
    return parser


SAGAS_EPILOG = """\
examples:
  orchestrator sagas list --stuck                      # what needs attention
  orchestrator sagas list --status FAILED --json       # for scripts
  orchestrator sagas show 6f1c...                      # order, items, timeline, payment, stock
  orchestrator sagas retry 6f1c... --reason "payment back up"
  orchestrator sagas retry --stuck --older-than 15m --dry-run
  orchestrator sagas compensate 6f1c... --reason "customer called, cancel"
  orchestrator sagas pause 6f1c... --reason "investigating"   # workers and sweeper skip it
  orchestrator sagas resume 6f1c...                     # and runs it now
  orchestrator sagas fail 6f1c... --reason "refund done by hand"
"""


def add_sagas(subparsers: Any) -> None:
    group = _group(subparsers, "sagas", "list, inspect and repair order sagas", SAGAS_EPILOG)
    js, flt, rep = _parent_json(), _parent_filters(), _parent_repair()
    _leaf(group, "list", "sagas:list_", "one line per saga, newest first", [js, flt])
    show = _leaf(group, "show", "sagas:show",
                 "the order, the step timeline, what the saga produced in each service", [js])
    show.add_argument("id", metavar="ORDER_OR_SAGA_ID")
    verbs = {
        "retry": "run the current step now with a fresh attempt budget (FAILED: resume it)",
        "compensate": "cancel: undo the steps done through the saga's compensations",
        "pause": "stop workers and the sweeper from advancing the saga",
        "resume": "let a paused saga run again (now)",
        "fail": "mark FAILED (order FAILED) for manual handling",
    }
    for verb, help_ in verbs.items():
        leaf = _leaf(group, verb, "sagas:repair", help_, [js, flt, rep])
        leaf.add_argument("id", nargs="?", metavar="ORDER_OR_SAGA_ID",
                          help="one saga; without it, every saga the filters select")
        leaf.add_argument("--reason", required=verb in ("compensate", "fail"),
                          help="why (recorded in the audit table)"
                               + ("; required" if verb in ("compensate", "fail") else ""))
        leaf.set_defaults(verb=verb)


DLQ_EPILOG = """\
examples:
  orchestrator dlq list --pending
  orchestrator dlq show 0b9e...
  orchestrator dlq redrive 0b9e... --reason "saga row restored"
  orchestrator dlq redrive --all --dry-run
  orchestrator dlq redrive --all --rate 5/s
  orchestrator dlq purge --older-than 30d --yes
"""


def add_dlq(subparsers: Any) -> None:
    group = _group(subparsers, "dlq", "dead-lettered saga messages: inspect, redrive, purge",
                   DLQ_EPILOG)
    js = _parent_json()
    lst = _leaf(group, "list", "dlq:list_", "dead letters, newest first", [js])
    lst.add_argument("--pending", action="store_true", help="only those not redriven yet")
    lst.add_argument("--order", metavar="ORDER_ID")
    lst.add_argument("--limit", type=int, default=50)
    show = _leaf(group, "show", "dlq:show", "one dead letter with its stored message", [js])
    show.add_argument("id", metavar="DEAD_LETTER_ID")
    red = _leaf(group, "redrive", "dlq:redrive", "send dead letters to the saga queue again",
                [js, _parent_repair()])
    red.add_argument("id", nargs="?", metavar="DEAD_LETTER_ID")
    red.add_argument("--all", action="store_true", help="every dead letter not redriven yet")
    red.add_argument("--rate", type=_rate, default=10.0, metavar="N/s",
                     help="messages per second for --all (default 10/s)")
    red.add_argument("--limit", type=int, default=1000, help="at most N with --all")
    red.add_argument("--order", metavar="ORDER_ID", help="with --all: this order's only")
    red.add_argument("--reason", help="why (recorded in the audit table)")
    pur = _leaf(group, "purge", "dlq:purge", "delete old dead letters", [js, _parent_repair()])
    pur.add_argument("--older-than", type=_duration, default=7 * 86400.0, metavar="DURATION",
                     help="created at least this long ago (default 7d)")
    pur.add_argument("--yes", action="store_true", help="really delete")
    pur.add_argument("--reason", help="why (recorded in the audit table)")


def add_outbox(subparsers: Any) -> None:
    group = _group(subparsers, "outbox", "the order outbox and its relays",
                   "examples:\n  orchestrator outbox status\n  orchestrator outbox status --json\n")
    st = _leaf(group, "status", "outbox:status",
               "backlog, oldest unsent age, sent in the last minute, relays alive",
               [_parent_json()])
    st.add_argument("--alive-within", type=_duration, default=15.0, metavar="DURATION",
                    help="a relay is alive if it beat this recently (default 15s)")


def add_breakers(subparsers: Any) -> None:
    group = _group(subparsers, "breakers", "the saga's circuit breakers (shared in Redis)",
                   "examples:\n  orchestrator breakers list\n"
                   "  orchestrator breakers reset payment --reason \"PSP incident over\"\n")
    _leaf(group, "list", "breakers:list_", "every breaker and its state", [_parent_json()])
    reset = _leaf(group, "reset", "breakers:reset", "close a breaker now",
                  [_parent_json(), _parent_repair()])
    reset.add_argument("name", metavar="NAME", help="inventory, payment or notify")
    reset.add_argument("--reason", help="why (recorded in the audit table)")


def add_orders(subparsers: Any) -> None:
    group = _group(subparsers, "orders", "orders as the orchestrator stores them",
                   "examples:\n  orchestrator orders show 6f1c...\n")
    show = _leaf(group, "show", "orders:show", "the order, its items and its saga",
                 [_parent_json()])
    show.add_argument("id", metavar="ORDER_ID")
