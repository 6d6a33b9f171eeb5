"""Every bad request of ``bad_requests.CASES`` is a 4xx in the one error shape and writes nothing
(on SQLite and PostgreSQL); ``tests/e2e/test_bad_requests_e2e.py`` sends them to a real server.

The cases share one seeded app per backend: seeding per case would cost minutes, and sharing is
sound here because each case proves it left every row as it found it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from splitlab.app import create_app
from splitlab.config import Settings
from splitlab.storage.engine import Database
from tests.api.bad_requests import CASE_IDS, CASES, Bad, check, resolve, seed, snapshot
from tests.conftest import ADMIN_SECRET, _truncate


@pytest.fixture(scope="module")
def seeded(database_url: str) -> Iterator[tuple[TestClient, Database, dict[str, int]]]:
    settings = Settings(database_url=database_url, admin_token=SecretStr(ADMIN_SECRET))
    db = Database(database_url)
    try:
        with TestClient(create_app(settings)) as client:
            client.headers["Authorization"] = f"Bearer {ADMIN_SECRET}"
            yield client, db, seed(client)
    finally:
        db.dispose()
        _truncate(database_url)


@pytest.mark.parametrize(("group", "case"), CASES, ids=CASE_IDS)
def test_bad_request_is_a_4xx_and_changes_nothing(
    seeded: tuple[TestClient, Database, dict[str, int]], group: str, case: Bad
) -> None:
    client, db, ids = seeded
    before = snapshot(db)
    check(resolve(case, ids).send(client, ids), case)
    assert snapshot(db) == before, f"{group}: {case.name} left rows behind"
