"""``bad_requests.CASES`` sent to a real ``splitlab serve``: each a 4xx in the one error shape,
never a 500, and the database file unchanged afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from splitlab.storage.engine import Database
from tests.api.bad_requests import CASE_IDS, CASES, Bad, check, resolve, seed, snapshot
from tests.e2e.conftest import ADMIN, Server
from tests.e2e.test_front_door import stream_endlessly

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


def test_an_endless_chunked_batch_is_refused_once_past_five_megabytes(
    admin_server: Server,
) -> None:
    """Without a Content-Length the body is read as it arrives and refused as soon as it
    passes 5 MB: an upload that never ends is answered, not buffered until memory runs out."""
    port = int(admin_server.url.rsplit(":", 1)[1])
    sent, response = stream_endlessly(port, "/api/v1/events/batch")
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"code":"payload_too_large"' in response
    # 5 MB, plus what the socket buffers held when the answer came
    assert sent < 16 * 1024 * 1024
