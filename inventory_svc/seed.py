"""The demo catalog `make run` loads: idempotent (products are matched by SKU)."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from inventory_svc.domain import DuplicateSku
from inventory_svc.handlers import Inventory

# (sku, name, description, price in cents, initial stock)
DEMO_CATALOG: list[tuple[str, str, str, int, int]] = [
    ("KB-001", "Mechanical keyboard", "Tenkeyless, brown switches", 8999, 50),
    ("MS-002", "Wireless mouse", "Ergonomic, 2.4 GHz", 2999, 120),
    ("MN-003", "27-inch monitor", "1440p IPS panel", 27900, 20),
    ("HS-004", "Headset", "Closed-back, USB-C", 5999, 40),
    ("WC-005", "Webcam", "1080p, privacy shutter", 4499, 60),
    ("DK-006", "USB-C dock", "Dual display, 100 W passthrough", 13900, 25),
    ("CH-007", "Office chair", "Mesh back, lumbar support", 24900, 10),
    ("DS-008", "Standing desk", "Electric, 140x70 cm", 44900, 8),
    ("LP-009", "Desk lamp", "Dimmable LED", 3499, 75),
    ("CB-010", "USB-C cable", "2 m, 240 W", 1299, 500),
    ("SS-011", "Portable SSD", "1 TB, USB 3.2", 9999, 35),
    ("MP-012", "Mouse pad", "XL, stitched edges", 1499, 200),
    ("HOT-013", "Limited edition mug", "Only a few made: good for watching stock run out", 1999, 5),
    ("OLD-014", "Discontinued cable", "Inactive: orders for it are refused", 999, 0),
]


async def seed_catalog(pool: AsyncConnectionPool) -> int:
    """Creates the demo products that are not there yet; returns how many were created."""
    inventory = Inventory(pool)
    created = 0
    for sku, name, description, price, initial in DEMO_CATALOG:
        values = {
            "sku": sku,
            "name": name,
            "description": description,
            "price_minor": price,
            "currency": "EUR",
            "active": not sku.startswith("OLD-"),
        }
        try:
            await inventory.create_product(values, initial, "seed")
            created += 1
        except DuplicateSku:
            continue
    return created
