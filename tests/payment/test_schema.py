"""The migration history builds exactly the tables `payment_svc.store` declares."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from payment_svc.store import SCHEMA, metadata
from svckit.db import sqlalchemy_url

pytestmark = pytest.mark.integration


def test_migrations_match_the_declared_tables(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "include_name": lambda name, kind, _parent: (
                        name == SCHEMA if kind == "schema" else name != "alembic_version"
                    ),
                },
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
