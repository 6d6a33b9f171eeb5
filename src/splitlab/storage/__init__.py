"""Persistence: engine and session scope, the ORM models and their Alembic migrations."""

from splitlab.storage.engine import Database, make_engine

__all__ = ["Database", "make_engine"]
