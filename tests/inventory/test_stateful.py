"""Hypothesis state machine: random reserve/release/commit/restock/adjust/expire sequences keep
on_hand = Σ ledger, reserved = Σ holds, and available ≥ 0 after every step."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from psycopg_pool import AsyncConnectionPool

from inventory_svc.domain import InventoryError, Item
from inventory_svc.handlers import Inventory
from svckit.db import libpq_url, open_pool

pytestmark = pytest.mark.integration


def test_inventory_invariants_hold(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    pool: AsyncConnectionPool = loop.run_until_complete(
        open_pool(database_url, name="stateful", min_size=1, max_size=2)
    )
    loop.run_until_complete(pool.wait())
    inventory = Inventory(pool)
    sync = psycopg.connect(libpq_url(database_url), autocommit=True)

    def run(coro: Any) -> Any:
        return loop.run_until_complete(coro)

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.products = [
                run(
                    inventory.create_product(
                        {
                            "sku": f"H-{uuid.uuid4().hex[:12]}",
                            "name": "h",
                            "description": "",
                            "price_minor": 100,
                            "currency": "EUR",
                            "active": True,
                        },
                        5,
                        "test",
                    )
                )["product_id"]
                for _ in range(3)
            ]
            self.orders: list[str] = []

        @rule(data=st.data())
        def reserve(self, data: st.DataObject) -> None:
            chosen = data.draw(
                st.lists(st.sampled_from(self.products), min_size=1, max_size=3, unique=True)
            )
            items = [Item(p, data.draw(st.integers(1, 4))) for p in chosen]
            order = str(uuid.uuid4())
            ttl = data.draw(st.sampled_from([None, 0.001]))
            # Refusals (out of stock) are legal outcomes; the invariants are checked either way.
            with contextlib.suppress(InventoryError):
                run(inventory.reserve(order, items, ttl, "test"))
                self.orders.append(order)

        @precondition(lambda self: self.orders)
        @rule(data=st.data(), action=st.sampled_from(["release", "commit", "restock"]))
        def settle(self, data: st.DataObject, action: str) -> None:
            order = data.draw(st.sampled_from(self.orders))
            call = {
                "release": lambda: inventory.release(order, "test", "test"),
                "commit": lambda: inventory.commit(order, "test"),
                "restock": lambda: inventory.restock(order, "test", "test"),
            }[action]
            with contextlib.suppress(InventoryError):  # e.g. commit after release: refused
                run(call())

        @rule(data=st.data(), delta=st.integers(-6, 6).filter(bool))
        def adjust(self, data: st.DataObject, delta: int) -> None:
            product = data.draw(st.sampled_from(self.products))
            with contextlib.suppress(InventoryError):  # below what is held: refused
                run(inventory.adjust_stock(product, delta, "t", "t"))

        @rule()
        def reap(self) -> None:
            run(inventory.reap_expired())

        @invariant()
        def ledger_matches_stock(self) -> None:
            rows = sync.execute(
                """SELECT s.on_hand, s.reserved,
                          (SELECT coalesce(sum(on_hand_delta), 0) FROM inventory.movements m
                           WHERE m.product_id = s.product_id) AS ledger_on_hand,
                          (SELECT coalesce(sum(reserved_delta), 0) FROM inventory.movements m
                           WHERE m.product_id = s.product_id) AS ledger_reserved,
                          (SELECT coalesce(sum(ri.quantity), 0) FROM inventory.reservation_items ri
                           JOIN inventory.reservations r USING (order_id)
                           WHERE ri.product_id = s.product_id AND r.status = 'HELD') AS held
                   FROM inventory.stock s WHERE s.product_id = ANY(%s::uuid[])""",
                (self.products,),
            ).fetchall()
            for on_hand, reserved, ledger_on_hand, ledger_reserved, held in rows:
                assert on_hand == ledger_on_hand
                assert reserved == ledger_reserved == held
                assert 0 <= reserved <= on_hand

    Machine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    try:
        Machine.TestCase().runTest()
    finally:
        sync.close()
        loop.run_until_complete(pool.close())
        loop.close()
