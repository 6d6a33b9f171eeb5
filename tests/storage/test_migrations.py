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


def test_0008_keeps_every_per_user_total_and_every_seed_on_sqlite(tmp_path: object) -> None:
    """0008 copies the exposures table on SQLite; the copy must not cascade to their totals.
    Experiments whose bucket version was raised before keep hashing users as they did."""
    db = Database(f"sqlite:///{tmp_path}/totals.db")
    statements = [
        "INSERT INTO workspaces (id, key, name, created_at) VALUES (1, 'w', 'W', '2026-01-01')",
        "INSERT INTO experiments (id, workspace_id, key, name, status, targeting, sticky_bucketing,"
        " override_enabled, min_sample_size, confidence_level, hash_version, bucket_version,"
        " sequential_testing, cuped, minimum_detectable_effect, created_at, updated_at)"
        " VALUES (1, 1, 'e', 'E', 'running', '{}', 1, 1, 100, 0.95, 2, 3, 0, 1, 0.05,"
        " '2026-01-01', '2026-01-01')",
        "INSERT INTO variants (id, experiment_id, key, name, allocation, is_control, position,"
        " config) VALUES (1, 1, 'control', 'C', 100, 1, 0, '{}')",
        "INSERT INTO exposures (id, workspace_id, experiment_id, variant_id, user_id,"
        " bucket_version, is_override, context, exposed_at)"
        " VALUES (7, 1, 1, 1, 'u', 0, 0, '{}', '2026-01-02')",
        "INSERT INTO exposure_totals (exposure_id, event_type, experiment_id, bucket_version,"
        " variant_id, post_count, post_sum, pre_count, pre_sum) VALUES (7, 'buy', 1, 0, 1, 2, 5.0, 0, 0)",
    ]
    try:
        upgrade(db.engine, "0007")
        with db.engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
        upgrade(db.engine)
        with db.engine.connect() as connection:
            # Raised to 3 before the seed carried the version: it keeps hashing as before.
            base = connection.exec_driver_sql("SELECT bucket_seed_base FROM experiments").scalar()
        assert base == 3
        for step in (lambda: None, lambda: downgrade(db.engine, "0007")):
            step()
            with db.engine.connect() as connection:
                rows = connection.exec_driver_sql(
                    "SELECT exposure_id, post_count, post_sum FROM exposure_totals"
                ).all()
            assert [tuple(r) for r in rows] == [(7, 2, 5.0)]
    finally:
        db.dispose()
