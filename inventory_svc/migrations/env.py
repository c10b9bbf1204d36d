"""Alembic environment of the `inventory` schema."""

from inventory_svc.store import SCHEMA, metadata
from svckit.migrate import run_env

run_env(metadata, SCHEMA)
