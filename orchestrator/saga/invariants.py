"""SPEC §8's invariants checked over the databases: a test and operations tool.

Unlike every service, this module reads the other services' schemas (inventory, payment, notify)
on purpose: it is an auditor, run by tests after each scenario and by operators after incidents,
never on a request path. Each schema may live in its own database (pass one URL per service).
Checks can be narrowed to some orders and products (tests share a database).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

TERMINAL = ("CONFIRMED", "CANCELLED", "FAILED")


@dataclass(frozen=True)
class Databases:
    """Where each schema lives (the same URL for all in a single-database setup)."""

    orders: str
    inventory: str
    payment: str
    notify: str

    @classmethod
    def single(cls, url: str) -> Databases:
        return cls(url, url, url, url)


async def _rows(url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def check(dbs: Databases, *, order_ids: Sequence[str] | None = None,
                product_ids: Sequence[str] | None = None, allow_failed: bool = False
                ) -> list[str]:
    """Every violation found, as readable sentences (empty: all invariants hold).

    1. every order is terminal (CONFIRMED/CANCELLED; FAILED only with allow_failed);
    2. stock: on_hand and reserved equal the ledger's sums, reserved equals the units of HELD
       reservations, no HELD reservation is expired, a settled order holds nothing, a confirmed
       order's reservation is COMMITTED and a cancelled one's is not;
    3. at most one captured payment per order; a confirmed order has one for its total; every
       capture of a cancelled order is fully refunded;
    4. exactly one ORDER_CONFIRMED notification per confirmed order.
    """
    ids = [uuid.UUID(o) for o in order_ids] if order_ids is not None else None
    where, params = ("WHERE order_id = ANY(%s)", [ids]) if ids is not None else ("", [])
    orders = {str(r["order_id"]): r for r in await _rows(
        dbs.orders, f"SELECT order_id, status, cancel_reason, total_minor FROM orders.orders"
        f" {where}", *params)}
    problems: list[str] = []
    allowed = TERMINAL if allow_failed else ("CONFIRMED", "CANCELLED")
    for oid, o in orders.items():
        if o["status"] not in allowed:
            problems.append(f"order {oid} is {o['status']}, not terminal")
    if order_ids is not None:
        problems += [f"order {o} does not exist" for o in order_ids if o not in orders]
    problems += await _stock(dbs, orders, product_ids)
    problems += await _payments(dbs, orders)
    problems += await _notifications(dbs, orders)
    return problems


async def _stock(dbs: Databases, orders: dict[str, Any], product_ids: Sequence[str] | None
                 ) -> list[str]:
    problems = []
    pids = [uuid.UUID(p) for p in product_ids] if product_ids is not None else None
    pwhere = "WHERE s.product_id = ANY(%s)" if pids is not None else ""
    pparams = [pids] if pids is not None else []
    for r in await _rows(dbs.inventory, f"""
        SELECT s.product_id, s.on_hand, s.reserved,
               (SELECT coalesce(sum(on_hand_delta), 0) FROM inventory.movements m
                 WHERE m.product_id = s.product_id) AS ledger_on_hand,
               (SELECT coalesce(sum(reserved_delta), 0) FROM inventory.movements m
                 WHERE m.product_id = s.product_id) AS ledger_reserved,
               (SELECT coalesce(sum(i.quantity), 0) FROM inventory.reservation_items i
                  JOIN inventory.reservations r USING (order_id)
                 WHERE i.product_id = s.product_id AND r.status = 'HELD') AS held
          FROM inventory.stock s {pwhere}""", *pparams):
        pid = r["product_id"]
        if r["on_hand"] != r["ledger_on_hand"]:
            problems.append(f"product {pid}: on_hand {r['on_hand']} != ledger "
                            f"{r['ledger_on_hand']}")
        if r["reserved"] != r["ledger_reserved"] or r["reserved"] != r["held"]:
            problems.append(f"product {pid}: reserved {r['reserved']}, ledger "
                            f"{r['ledger_reserved']}, held {r['held']}")
        if r["on_hand"] < 0 or r["reserved"] > r["on_hand"]:
            problems.append(f"product {pid}: oversold (on_hand {r['on_hand']}, reserved "
                            f"{r['reserved']})")
    expired_sql = ("SELECT DISTINCT r.order_id FROM inventory.reservations r"
                   " JOIN inventory.reservation_items i USING (order_id)"
                   " WHERE r.status = 'HELD' AND r.expires_at < now()")
    scope: list[Any] = []
    if pids is not None:  # narrowed: the holds on these products and of these orders
        expired_sql += " AND (i.product_id = ANY(%s) OR r.order_id = ANY(%s))"
        scope = [pids, [uuid.UUID(o) for o in orders]]
    for r in await _rows(dbs.inventory, expired_sql, *scope):
        problems.append(f"reservation {r['order_id']} is HELD past its expiry")
    if orders:
        holds = {str(r["order_id"]): r["status"] for r in await _rows(
            dbs.inventory, "SELECT order_id, status FROM inventory.reservations"
            " WHERE order_id = ANY(%s)", [uuid.UUID(o) for o in orders])}
        for oid, o in orders.items():
            hold = holds.get(oid)
            if o["status"] in TERMINAL and hold == "HELD":
                problems.append(f"{o['status']} order {oid} still holds stock")
            if o["status"] == "CONFIRMED" and hold != "COMMITTED":
                problems.append(f"confirmed order {oid} has reservation {hold}")
            if o["status"] == "CANCELLED" and hold == "COMMITTED":
                problems.append(f"cancelled order {oid} kept its sold units")
    return problems


async def _payments(dbs: Databases, orders: dict[str, Any]) -> list[str]:
    if not orders:
        return []
    problems = []
    captured: dict[str, list[dict[str, Any]]] = {}
    for r in await _rows(dbs.payment, "SELECT order_id, amount_minor, captured_minor,"
                         " refunded_minor FROM payment.payments WHERE order_id = ANY(%s)"
                         " AND captured_minor > 0", list(orders)):
        captured.setdefault(r["order_id"], []).append(r)
    for oid, o in orders.items():
        caps = captured.get(oid, [])
        if len(caps) > 1:
            problems.append(f"order {oid} was captured {len(caps)} times")
        if o["status"] == "CONFIRMED" and (len(caps) != 1 or caps[0]["captured_minor"]
                                           != o["total_minor"]):
            problems.append(f"confirmed order {oid} has captures {caps}, total "
                            f"{o['total_minor']}")
        if o["status"] == "CANCELLED":
            for c in caps:
                if c["refunded_minor"] != c["captured_minor"]:
                    problems.append(f"cancelled order {oid}: captured {c['captured_minor']},"
                                    f" refunded {c['refunded_minor']}")
    return problems


async def _notifications(dbs: Databases, orders: dict[str, Any]) -> list[str]:
    confirmed = [oid for oid, o in orders.items() if o["status"] == "CONFIRMED"]
    if not confirmed:
        return []
    counts = {r["order_id"]: r["n"] for r in await _rows(
        dbs.notify, "SELECT order_id, count(*) AS n FROM notify.notifications"
        " WHERE template = 'ORDER_CONFIRMED' AND order_id = ANY(%s) GROUP BY order_id",
        confirmed)}
    return [f"confirmed order {oid} has {counts.get(oid, 0)} confirmations"
            for oid in confirmed if counts.get(oid, 0) != 1]
