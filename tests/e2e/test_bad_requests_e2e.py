"""``bad_requests.CASES`` sent to a real ``splitlab serve``: each a 4xx in the one error shape,
never a 500, and the database file unchanged afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from splitlab.storage.engine import Database
from tests.api.bad_requests import CASE_IDS, CASES, Bad, check, resolve, seed, snapshot
from tests.e2e.conftest import ADMIN, Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def seeded(admin_server: Server) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=admin_server.url, headers=headers, timeout=10) as client:
        return seed(client)


@pytest.fixture(scope="module")
def database(admin_server: Server) -> Iterator[Database]:
    db = Database(admin_server.database_url)
    yield db
    db.dispose()


@pytest.mark.parametrize(("group", "case"), CASES, ids=CASE_IDS)
def test_bad_request_over_http(
    http: httpx.Client,
    seeded: dict[str, int],
    database: Database,
    admin_server: Server,
    group: str,
    case: Bad,
) -> None:
    before, logged = snapshot(database), len(admin_server.output())
    check(resolve(case, seeded).send(http, seeded), case)
    assert snapshot(database) == before, f"{group}: {case.name} left rows behind"
    assert "Traceback" not in admin_server.output()[logged:]
