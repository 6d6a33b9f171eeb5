"""Migrations and models agree, and every migration can be undone, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from splitlab.storage.base import Base
from splitlab.storage.engine import Database
from splitlab.storage.migrate import downgrade, upgrade


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        db.dispose()
    assert diff == []


def test_every_migration_downgrades_and_upgrades_again(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/roundtrip.db")
    try:
        upgrade(db.engine)
        downgrade(db.engine, "base")
        with db.engine.connect() as connection:
            tables = connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type='table' AND name != 'alembic_version'"
            ).all()
        assert tables == []
        upgrade(db.engine)
    finally:
        db.dispose()


def test_postgres_downgrade_and_upgrade(postgres_server_url: str) -> None:
    from tests.conftest import _create_postgres_database, _drop_postgres_database

    name, url = _create_postgres_database(postgres_server_url)
    db = Database(url)
    try:
        upgrade(db.engine)
        downgrade(db.engine, "base")
        upgrade(db.engine)
    finally:
        db.dispose()
        _drop_postgres_database(postgres_server_url, name)
