"""``bad_requests.CASES`` sent to a real ``splitlab serve``: each a 4xx in the one error shape,
never a 500, and the database file unchanged afterwards."""

from __future__ import annotations

import select
import socket
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


def test_an_endless_chunked_batch_is_refused_once_past_five_megabytes(
    admin_server: Server,
) -> None:
    """Without a Content-Length the body is read as it arrives and refused as soon as it
    passes 5 MB: an upload that never ends is answered, not buffered until memory runs out."""
    port = int(admin_server.url.rsplit(":", 1)[1])
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/events/batch HTTP/1.1\r\nHost: splitlab\r\n"
            b"Authorization: Bearer " + ADMIN.encode() + b"\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        while sent < 64 * 1024 * 1024:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered
            try:
                sock.sendall(chunk)
            except OSError:  # it answered and closed while we were still sending
                break
            sent += 65536
        response = b""
        while not response.endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            response += data
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"code":"payload_too_large"' in response
    # 5 MB, plus what the socket buffers held when the answer came
    assert sent < 16 * 1024 * 1024
