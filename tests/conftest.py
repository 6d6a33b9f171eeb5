"""Shared fixtures: a migrated database per backend, an app, a client and tokens.

SQLite always runs. PostgreSQL runs when ``SPLITLAB_TEST_POSTGRES_URL`` points at a server (the
fixture creates and drops its own database there); under ``CI=true`` a missing or unreachable
server is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from splitlab.app import create_app
from splitlab.config import Settings
from splitlab.storage.base import Base
from splitlab.storage.engine import Database, normalise_url
from splitlab.storage.migrate import upgrade

ADMIN_SECRET = "test-admin-secret-with-enough-entropy-0123456789"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Speed is measured by bench/, never by a test: on a shared, loaded machine a property test's
# 200 ms deadline (or its "too slow" health check) failed runs that were correct.
hypothesis_settings.register_profile(
    "splitlab", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("splitlab")


def require_service(name: str, env_var: str) -> str:
    """The URL of a service a test needs: skip without it locally, fail without it in CI."""
    url = os.environ.get(env_var)
    if url:
        return url
    message = f"{name} tests need {env_var} (e.g. set by .ci/run)"
    if IN_CI:
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    return require_service("PostgreSQL", "SPLITLAB_TEST_POSTGRES_URL")


def _create_postgres_database(server_url: str) -> tuple[str, str]:
    admin_url = make_url(normalise_url(server_url))
    name = f"splitlab_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {server_url} is not usable: {exc}")
    finally:
        engine.dispose()
    return name, admin_url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(server_url: str, name: str) -> None:
    engine = create_engine(make_url(normalise_url(server_url)), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database of each backend, shared by the session and cleaned per test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'splitlab.db'}"
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        yield url
        return
    server = request.getfixturevalue("postgres_server_url")
    name, url = _create_postgres_database(server)
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    try:
        yield url
    finally:
        _drop_postgres_database(server, name)


def _truncate(url: str) -> None:
    db = Database(url)
    with db.session_scope() as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "control_generation":  # one row, kept (migration 0007)
                session.execute(table.delete())
    db.dispose()


@pytest.fixture
def settings(database_url: str) -> Iterator[Settings]:
    yield Settings(database_url=database_url, admin_token=SecretStr(ADMIN_SECRET))
    _truncate(database_url)


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    """An app on a clean database, with its lifespan (bootstrap) run; no credentials attached."""
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """The app client authenticated as the bootstrap admin."""
    app_client.headers["Authorization"] = f"Bearer {ADMIN_SECRET}"
    return app_client


@pytest.fixture
def db(settings: Settings, app_client: TestClient) -> Iterator[Database]:
    """Direct database access to the app's database, for assertions on stored rows."""
    database = Database(settings.database_url)
    yield database
    database.dispose()


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
