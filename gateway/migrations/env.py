"""Alembic environment of the `identity` schema."""

from gateway.store import SCHEMA, metadata
from svckit.migrate import run_env

run_env(metadata, SCHEMA)
