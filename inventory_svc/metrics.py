"""Inventory's own Prometheus series."""

from __future__ import annotations

from prometheus_client import Counter

RESERVATIONS = Counter(
    "inventory_reservations_total", "Reservation attempts by outcome.", ["outcome"]
)
RESERVATION_EXPIRIES = Counter(
    "inventory_reservation_expiries_total", "Holds released by the reaper after their TTL."
)
