"""Demo mode: seed 001's well-known tokens work, with a warning, and never outside demo mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from splitlab.app import create_app
from splitlab.auth.tokens import hash_secret
from splitlab.bootstrap import DEMO_WARNING
from splitlab.config import Settings
from splitlab.storage.engine import Database
from splitlab.storage.models import ApiToken
from tests.auth.conftest import assert_error, assert_unauthenticated, bearer, start_server

ADMIN, EXPERIMENT, READONLY = "admin_token_123", "experiment_token_789", "readonly_token_456"
DEMO_SECRETS = (ADMIN, EXPERIMENT, READONLY)
NEW_USER = {"user_id": "test-user-123"}


@pytest.fixture
def demo_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"demo": True}))) as client:
        yield client


def demo_rows(settings: Settings) -> list[str]:
    db = Database(settings.database_url)
    try:
        with db.session_scope() as session:
            hashes = {hash_secret(s) for s in DEMO_SECRETS}
            query = select(ApiToken.name).where(
                ApiToken.is_demo.is_(True) | ApiToken.token_hash.in_(hashes)
            )
            return list(session.scalars(query))
    finally:
        db.dispose()


def test_demo_admin_token_manages_tokens(demo_client: TestClient) -> None:
    response = demo_client.get("/api/v1/api-tokens/", headers=bearer(ADMIN))
    assert response.status_code == 200
    assert {t["scope"] for t in response.json() if t["name"].startswith("demo")} == {
        "admin",
        "experiment",
        "readonly",
    }


def test_demo_experiment_token_writes_but_cannot_manage_tokens(demo_client: TestClient) -> None:
    writer = bearer(EXPERIMENT)
    assert demo_client.post("/api/v1/users/", json=NEW_USER, headers=writer).status_code == 201
    assert_error(demo_client.get("/api/v1/api-tokens/", headers=writer), 403)


def test_demo_readonly_token_reads_but_cannot_write(demo_client: TestClient) -> None:
    reader = bearer(READONLY)
    assert demo_client.get("/api/v1/users/", headers=reader).status_code == 200
    assert_error(demo_client.post("/api/v1/users/", json=NEW_USER, headers=reader), 403)


def test_demo_tokens_are_stored_hashed(demo_client: TestClient, settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        with db.session_scope() as session:
            rows = session.scalars(select(ApiToken).where(ApiToken.is_demo.is_(True))).all()
            assert {r.token_hash for r in rows} == {hash_secret(s) for s in DEMO_SECRETS}
            assert all(r.prefix not in DEMO_SECRETS for r in rows)
    finally:
        db.dispose()


def test_demo_tokens_are_401_and_gone_once_demo_mode_is_off(
    demo_client: TestClient, settings: Settings
) -> None:
    assert demo_client.get("/api/v1/users/", headers=bearer(READONLY)).status_code == 200
    with TestClient(create_app(settings)) as client:  # same database, demo=False
        for demo_secret in DEMO_SECRETS:
            assert_unauthenticated(client.get("/api/v1/users/", headers=bearer(demo_secret)))
    assert demo_rows(settings) == []


def test_demo_tokens_left_in_the_table_are_refused_outside_demo_mode(
    demo_client: TestClient, settings: Settings
) -> None:
    """Even before start-up clean-up runs (no lifespan here), a non-demo app refuses them."""
    assert demo_rows(settings) != []
    app = create_app(settings)
    try:
        client = TestClient(app)
        for demo_secret in DEMO_SECRETS:
            assert_unauthenticated(client.get("/api/v1/users/", headers=bearer(demo_secret)))
    finally:
        app.state.db.dispose()


def test_demo_tokens_never_exist_outside_demo_mode(
    app_client: TestClient, settings: Settings
) -> None:
    assert demo_rows(settings) == []
    assert_unauthenticated(app_client.get("/api/v1/users/", headers=bearer(ADMIN)))


@pytest.mark.e2e
def test_serve_demo_prints_the_warning_and_accepts_the_demo_tokens(tmp_path: Path) -> None:
    server = start_server(tmp_path, f"sqlite:///{tmp_path / 'demo.db'}", "--demo")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            response = http.get("/api/v1/api-tokens/", headers=bearer(ADMIN))
    finally:
        output = server.stop()
    assert response.status_code == 200
    assert DEMO_WARNING in " ".join(output.split())
