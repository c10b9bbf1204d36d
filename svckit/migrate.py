"""Alembic migrations, one history per service schema, run programmatically."""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool, text

from svckit.db import sqlalchemy_url


def upgrade(package: str, url: str, revision: str = "head") -> None:
    """Migrate the schema owned by `package` (its `migrations/` folder) to `revision`."""
    module = importlib.import_module(package)
    if module.__file__ is None:
        raise RuntimeError(f"{package} is not a regular package (no __init__.py)")
    config = Config()
    config.set_main_option("script_location", str(Path(module.__file__).parent / "migrations"))
    config.attributes["url"] = url
    command.upgrade(config, revision)


def run_env(metadata: MetaData, schema: str) -> None:
    """Body of a service's migrations/env.py: online migration under an advisory lock."""
    url = context.config.attributes.get("url")
    if not url:
        raise RuntimeError("svckit.migrate.upgrade() passes the database URL")
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        # Two processes migrating the same schema at once wait for each other.
        connection.execute(text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": schema})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.execute(text("SELECT pg_advisory_unlock(hashtext(:s))"), {"s": schema})
        connection.commit()
    engine.dispose()
