"""Token secrets are never stored or logged: only SHA-256 hashes reach the database."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import make_url

from splitlab.app import create_app
from splitlab.auth.tokens import hash_secret
from splitlab.config import Settings
from splitlab.storage.base import Base
from splitlab.storage.engine import Database
from splitlab.storage.models import ApiToken
from tests.auth.conftest import Server, bearer, clean_env, secret, start_server
from tests.conftest import ADMIN_SECRET

#: Operator-chosen secrets can be short; a short one must not end up stored in clear either.
SHORT_ADMIN_SECRET = "tiny-secret"


def exercise(client: TestClient) -> list[str]:
    """Create tokens of every scope, use each (and fail once), return their secrets."""
    secrets = [secret(client, scope=scope) for scope in ("readonly", "experiment", "admin")]
    secrets.append(secret(client, scope="experiment", description="with expiry", expires_in_days=3))
    for token in secrets:
        assert client.get("/api/v1/users/", headers=bearer(token)).status_code == 200
        client.post("/api/v1/users/", json={"user_id": token[-8:]}, headers=bearer(token))
    assert client.get("/api/v1/users/", headers=bearer(secrets[0] + "x")).status_code == 401
    return secrets


def rows_containing(db: Database, needles: Iterable[str]) -> list[str]:
    """Every ``table: row`` of every model table in which one of ``needles`` appears."""
    hits = []
    with db.session_scope() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                text = repr(tuple(row))
                hits += [f"{table.name}: {text}" for needle in needles if needle in text]
    return hits


def sqlite_files(settings: Settings) -> list[Path]:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        pytest.skip("the database file is a SQLite check (PostgreSQL is covered row by row)")
    assert url.database
    main = Path(url.database)
    return [p for p in (main, main.with_name(main.name + "-wal")) if p.exists()]


def test_no_table_holds_a_token_secret(client: TestClient, db: Database) -> None:
    secrets = [*exercise(client), ADMIN_SECRET]
    assert rows_containing(db, secrets) == []


def test_every_token_row_holds_the_sha256_of_its_secret(client: TestClient, db: Database) -> None:
    secrets = [*exercise(client), ADMIN_SECRET]
    with db.session_scope() as session:
        stored = set(session.scalars(select(ApiToken.token_hash)))
    assert {hash_secret(s) for s in secrets} <= stored


def test_sqlite_file_and_wal_hold_no_token_secret(
    client: TestClient, db: Database, settings: Settings
) -> None:
    secrets = [*exercise(client), ADMIN_SECRET]
    files = sqlite_files(settings)
    contents = b"".join(path.read_bytes() for path in files)
    assert hash_secret(secrets[0]).encode() in contents  # the scan does see the token rows
    assert [s for s in secrets if s.encode() in contents] == []


def test_short_operator_admin_token_is_not_stored_in_clear(settings: Settings) -> None:
    short = settings.model_copy(update={"admin_token": SecretStr(SHORT_ADMIN_SECRET)})
    with TestClient(create_app(short)) as client:
        assert (
            client.get("/api/v1/api-tokens/", headers=bearer(SHORT_ADMIN_SECRET)).status_code == 200
        )
    db = Database(settings.database_url)
    try:
        assert rows_containing(db, [SHORT_ADMIN_SECRET]) == []
    finally:
        db.dispose()


def test_bootstrap_removes_a_clear_prefix_stored_by_an_older_version(
    settings: Settings, db: Database
) -> None:
    short = settings.model_copy(update={"admin_token": SecretStr(SHORT_ADMIN_SECRET)})
    with TestClient(create_app(short)):
        pass
    with db.session_scope() as session:
        token = session.scalars(
            select(ApiToken).where(ApiToken.token_hash == hash_secret(SHORT_ADMIN_SECRET))
        ).one()
        token.prefix = SHORT_ADMIN_SECRET  # what versions before the capped prefix stored
    with TestClient(create_app(short)):
        pass
    assert rows_containing(db, [SHORT_ADMIN_SECRET]) == []


def test_logs_hold_no_token_secret(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    verbose = settings.model_copy(update={"sql_echo": True})
    with TestClient(create_app(verbose)) as client:
        client.headers.update(bearer(ADMIN_SECRET))
        secrets = [*exercise(client), ADMIN_SECRET]
    assert "api_tokens" in caplog.text  # SQL, with its parameters, was logged
    assert [s for s in secrets if s in caplog.text] == []


@pytest.mark.e2e
def test_server_output_and_database_hold_no_token_secret(tmp_path: Path) -> None:
    admin = "e2e-operator-admin-secret-0123456789"
    database = tmp_path / "secrets.db"
    server: Server = start_server(
        tmp_path,
        f"sqlite:///{database}",
        "--log-level",
        "debug",
        env=clean_env(SPLITLAB_ADMIN_TOKEN=admin, SPLITLAB_SQL_ECHO="true"),
    )
    try:
        with httpx.Client(base_url=server.url, headers=bearer(admin), timeout=10) as http:
            secrets = [admin]
            for scope in ("readonly", "experiment", "admin"):
                created = http.post("/api/v1/api-tokens/", json={"name": scope, "scope": scope})
                assert created.status_code == 201
                secrets.append(created.json()["token"])
            for token in secrets:
                assert http.get("/api/v1/users/", headers=bearer(token)).status_code == 200
    finally:
        output = server.stop()
    assert "INSERT INTO api_tokens" in output  # the SQL echo was on
    contents = b"".join(p.read_bytes() for p in tmp_path.glob("secrets.db*"))
    assert [s for s in secrets if s in output] == []
    assert [s for s in secrets if s.encode() in contents] == []
