"""Alembic environment: the engine comes from the caller (config attribute) or SIM_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import simulator.models_index  # noqa: F401  (the whole schema)
from simulator.config import get_settings
from simulator.core.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or get_settings().database_url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
