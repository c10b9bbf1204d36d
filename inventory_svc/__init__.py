"""Inventory: the catalog, stock levels and the reservations the order saga holds."""
