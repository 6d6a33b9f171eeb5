"""Alembic environment: runs against the connection handed over by ``splitlab.storage.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from splitlab.storage import models  # noqa: F401  (registers every table on Base.metadata)
from splitlab.storage.base import Base
from splitlab.storage.engine import make_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


run_migrations_online()
