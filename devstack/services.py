"""The schema-owning packages of the platform, in migration order (one Alembic history each)."""

from __future__ import annotations

from svckit import migrate

MIGRATION_PACKAGES: list[str] = [
    "inventory_svc",
    "orchestrator",
    "gateway",
    "payment_svc",
    "notify_svc",
]


def migrate_all(url: str) -> None:
    for package in MIGRATION_PACKAGES:
        migrate.upgrade(package, url)
