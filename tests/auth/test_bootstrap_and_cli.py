"""Start-up tokens (SPLITLAB_ADMIN_TOKEN, the first admin token) and the ``splitlab token`` CLI."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from typer.testing import CliRunner

from splitlab.auth.tokens import hash_secret
from splitlab.bootstrap import bootstrap
from splitlab.cli import app as cli
from splitlab.config import Settings
from splitlab.storage.engine import Database
from splitlab.storage.models import ApiToken
from tests.auth.conftest import (
    WORKSPACE_A,
    assert_error,
    assert_unauthenticated,
    bearer,
    issue,
    start_server,
)
from tests.conftest import ADMIN_SECRET

SECRET = re.compile(r"slk_[A-Za-z0-9_-]{40,}")
#: ``run("token", "list")`` -> (exit code, output)
Run = Callable[..., tuple[int, str]]


def count_tokens(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(ApiToken)) or 0


@pytest.fixture
def bare_db(settings: Settings) -> Iterator[Database]:
    """The migrated, empty test database, with nothing bootstrapped yet."""
    database = Database(settings.database_url)
    yield database
    database.dispose()


# --- bootstrap ---------------------------------------------------------------------------------


def test_operator_admin_token_is_an_admin_token(client: TestClient) -> None:
    listed = client.get("/api/v1/api-tokens/").json()
    assert [(t["name"], t["scope"], t["workspace"]) for t in listed] == [
        ("admin (SPLITLAB_ADMIN_TOKEN)", "admin", None)
    ]


def test_operator_admin_token_is_stored_once_however_often_bootstrap_runs(
    bare_db: Database, settings: Settings
) -> None:
    for _ in range(3):
        assert bootstrap(bare_db, settings, create_admin_if_none=True) is None
    with bare_db.session_scope() as session:
        hashes = list(session.scalars(select(ApiToken.token_hash)))
    assert hashes == [hash_secret(ADMIN_SECRET)]


def test_first_admin_token_is_minted_when_no_token_exists(
    bare_db: Database, settings: Settings
) -> None:
    no_operator_token = settings.model_copy(update={"admin_token": None})
    minted = bootstrap(bare_db, no_operator_token, create_admin_if_none=True)
    assert minted is not None
    assert SECRET.fullmatch(minted)
    with bare_db.session_scope() as session:
        token = session.scalars(select(ApiToken)).one()
        assert (token.scope, token.workspace_id, token.token_hash) == (
            "admin",
            None,
            hash_secret(minted),
        )


def test_first_admin_token_is_minted_only_once(bare_db: Database, settings: Settings) -> None:
    no_operator_token = settings.model_copy(update={"admin_token": None})
    assert bootstrap(bare_db, no_operator_token, create_admin_if_none=True) is not None
    assert bootstrap(bare_db, no_operator_token, create_admin_if_none=True) is None
    assert count_tokens(bare_db) == 1


def test_app_start_up_never_mints_a_token(bare_db: Database, settings: Settings) -> None:
    """Only ``splitlab serve`` mints (and prints) a first token; the app factory does not."""
    no_operator_token = settings.model_copy(update={"admin_token": None})
    bootstrap(bare_db, no_operator_token)
    assert count_tokens(bare_db) == 0


@pytest.mark.e2e
def test_serve_prints_a_working_admin_token_on_first_start_only(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = start_server(tmp_path, database)
    try:
        printed = SECRET.findall(first.output())
        assert len(printed) == 1
        with httpx.Client(base_url=first.url, headers=bearer(printed[0]), timeout=10) as http:
            assert http.get("/api/v1/api-tokens/").status_code == 200
    finally:
        first_output = first.stop()
    second_output = start_server(tmp_path, database).stop()
    assert SECRET.findall(second_output) == []
    assert "DEMO MODE" not in first_output + second_output


# --- splitlab token create / list / revoke -----------------------------------------------------


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Run:
    """Invoke ``splitlab`` in process against the test database."""
    # The CLI exports --database-url for uvicorn workers; this makes the test undo that export.
    monkeypatch.setenv("SPLITLAB_DATABASE_URL", settings.database_url)
    runner = CliRunner()

    def _run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, [*args, "--database-url", settings.database_url])
        return result.exit_code, result.output

    return _run


def create_with_cli(run: Run, *args: str) -> str:
    exit_code, output = run("token", "create", *args)
    assert exit_code == 0, output
    found = SECRET.findall(output)
    assert len(found) == 1, output
    return str(found[0])


def test_cli_creates_a_token_with_the_requested_scope(client: TestClient, run: Run) -> None:
    token = bearer(
        create_with_cli(run, "--scope", "experiment", "--name", "x", "--workspace", "default")
    )
    assert client.post("/api/v1/users/", json={"user_id": "u1"}, headers=token).status_code == 201
    assert_error(client.get("/api/v1/api-tokens/", headers=token), 403)


def test_cli_creates_a_default_workspace_token_on_a_fresh_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``splitlab token create --workspace default`` works before the first ``serve``."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("SPLITLAB_DATABASE_URL", url)
    args = ["token", "create", "--scope", "experiment", "--name", "x", "--workspace", "default"]
    result = CliRunner().invoke(cli, [*args, "--database-url", url])
    assert result.exit_code == 0, result.output
    assert len(SECRET.findall(result.output)) == 1


def test_cli_binds_the_token_to_the_named_workspace(
    client: TestClient, run: Run, two_workspaces: tuple[str, str]
) -> None:
    create_with_cli(run, "--scope", "readonly", "--name", "bound", "--workspace", WORKSPACE_A)
    listed = {t["name"]: t["workspace"] for t in client.get("/api/v1/api-tokens/").json()}
    assert listed["bound"] == WORKSPACE_A


def test_cli_create_for_an_unknown_workspace_fails(client: TestClient, run: Run) -> None:
    exit_code, output = run(
        "token", "create", "--scope", "admin", "--name", "x", "--workspace", "nowhere"
    )
    assert exit_code == 1
    assert "Workspace not found" in output
    assert SECRET.findall(output) == []


def test_cli_list_shows_prefixes_and_never_secrets(client: TestClient, run: Run) -> None:
    created = issue(client, name="listed")
    exit_code, output = run("token", "list")
    assert exit_code == 0
    assert created["prefix"] in output
    assert "listed" in output
    assert created["token"] not in output
    assert ADMIN_SECRET not in output


def test_cli_revoke_by_id_stops_the_token(client: TestClient, run: Run) -> None:
    created = issue(client)
    exit_code, output = run("token", "revoke", str(created["id"]))
    assert exit_code == 0, output
    assert_unauthenticated(client.get("/api/v1/users/", headers=bearer(created["token"])))


def test_cli_revoke_by_prefix_stops_the_token(client: TestClient, run: Run) -> None:
    created = issue(client)
    exit_code, output = run("token", "revoke", created["prefix"])
    assert exit_code == 0, output
    assert_unauthenticated(client.get("/api/v1/users/", headers=bearer(created["token"])))


def test_cli_revoke_of_an_unknown_token_fails(client: TestClient, run: Run) -> None:
    exit_code, output = run("token", "revoke", "987654")
    assert exit_code == 1
    assert "No single token" in output


def test_cli_revokes_the_operator_admin_token_without_any_token(
    client: TestClient, run: Run
) -> None:
    admin_id = client.get("/api/v1/api-tokens/").json()[0]["id"]
    assert run("token", "revoke", str(admin_id))[0] == 0
    assert_unauthenticated(client.get("/api/v1/api-tokens/"))


def test_settings_admin_token_is_a_secret(settings: Settings) -> None:
    assert isinstance(settings.admin_token, SecretStr)
    assert ADMIN_SECRET not in repr(settings)


def test_changing_the_operator_admin_token_revokes_the_old_value(
    bare_db: Database, settings: Settings
) -> None:
    bootstrap(bare_db, settings)
    rotated = settings.model_copy(update={"admin_token": SecretStr("a-new-operator-secret-123")})
    bootstrap(bare_db, rotated)
    with bare_db.session_scope() as session:
        states = {t.token_hash: t.is_active for t in session.scalars(select(ApiToken))}
    assert states == {
        hash_secret(ADMIN_SECRET): False,
        hash_secret("a-new-operator-secret-123"): True,
    }
    # Setting the old value again brings it back, and turns off the newer one.
    bootstrap(bare_db, settings)
    with bare_db.session_scope() as session:
        active = {t.token_hash for t in session.scalars(select(ApiToken)) if t.is_active}
    assert active == {hash_secret(ADMIN_SECRET)}


def test_a_new_secret_is_never_cached(client: TestClient) -> None:
    response = client.post("/api/v1/api-tokens/", json={"name": "fresh"})
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
