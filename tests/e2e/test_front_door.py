"""The front door of a real ``splitlab serve`` (``runtime.guard``), over raw sockets where needed.

- A request to ``/api/...`` without a valid token is answered ``401`` from its headers alone:
  the body is never waited for, read or parsed (a declared 50 MB body of which ten bytes were
  sent, an endless chunked one, malformed JSON: all ``401``, never ``422``).
- Body limits by route: 5 MB on paths ending in ``/batch``, 1 MB anywhere else; ``413`` in the
  one error shape, from the ``Content-Length`` at once or, without one, as soon as the stream
  passes the limit. A body within its limit is served.
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN, Server

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
BATCH_LIMIT = 5 * MB
DEFAULT_LIMIT = 1 * MB
#: How long an answer that needs no body may take: generous, since a server that waited for
#: the body would never answer at all (the rest of it is never sent).
PROMPT = 5.0

BATCH = "/api/v1/events/batch"
EXPERIMENTS = "/api/experiments/"

CREDENTIALS = {
    "missing": b"",
    "invalid": b"Authorization: Bearer not-a-token-of-this-server-0123456789\r\n",
}
ADMIN_HEADER = b"Authorization: Bearer " + ADMIN.encode() + b"\r\n"
#: Framing of a body announced as huge, and the little of it that is actually sent.
FRAMINGS = {
    "content-length": (b"Content-Length: %d\r\n" % (50 * MB), b'{"events":['),
    "chunked": (b"Transfer-Encoding: chunked\r\n", b'b\r\n{"events":[\r\n'),
}


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def head(method: str, path: str, *lines: bytes) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: splitlab\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + b"".join(lines)
        + b"\r\n"
    )


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body (all the server's answers have one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a full answer: {data[:200]!r}")
        data += chunk
    raw_head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body[:length]


def answer_to_headers(port: int, request_head: bytes, start: bytes) -> tuple[int, dict[str, Any]]:
    """Send the head and the start of a body that is never finished; the server must answer
    while the rest is still missing (a socket timeout here means it waited for the body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=PROMPT) as sock:
        sock.sendall(request_head + start)
        try:
            status, _, body = read_response(sock)
        except TimeoutError:
            pytest.fail(f"no answer within {PROMPT}s: the server waited for the body")
    return status, json.loads(body)


# -- no valid token: refused before the body ------------------------------------------------


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
@pytest.mark.parametrize("credential", sorted(CREDENTIALS))
@pytest.mark.parametrize("path", [BATCH, EXPERIMENTS])
def test_without_a_valid_token_a_huge_body_is_refused_before_it_arrives(
    admin_server: Server, path: str, credential: str, framing: str
) -> None:
    length_line, start = FRAMINGS[framing]
    request_head = head("POST", path, CREDENTIALS[credential], length_line)
    status, body = answer_to_headers(port_of(admin_server), request_head, start)
    assert status == 401, body
    assert body["code"] == "unauthenticated"
    assert set(body) <= {"error", "code", "details"}


@pytest.mark.parametrize("credential", sorted(CREDENTIALS))
@pytest.mark.parametrize("path", [BATCH, EXPERIMENTS])
def test_malformed_json_without_a_valid_token_is_401_not_a_body_error(
    admin_server: Server, path: str, credential: str
) -> None:
    malformed = b'{"events": [{"user_id": "u", oops'
    headers = {"Content-Type": "application/json"}
    if CREDENTIALS[credential]:
        headers["Authorization"] = "Bearer not-a-token-of-this-server-0123456789"
    refused = httpx.post(admin_server.url + path, content=malformed, headers=headers, timeout=10)
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "unauthenticated"
    # The same body with a valid token is a body error: the 401 above was about the token.
    headers["Authorization"] = f"Bearer {ADMIN}"
    parsed = httpx.post(admin_server.url + path, content=malformed, headers=headers, timeout=10)
    assert parsed.status_code in (400, 422), parsed.text


# -- body limits by route ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        (EXPERIMENTS, DEFAULT_LIMIT),
        ("/api/v1/events/", DEFAULT_LIMIT),
        ("/api/v1/users/", DEFAULT_LIMIT),
        (BATCH, BATCH_LIMIT),
        ("/api/experiments/front-door/assignments/batch", BATCH_LIMIT),
        ("/api/v1/assignments/batch", BATCH_LIMIT),
    ],
)
def test_a_declared_length_over_the_route_limit_is_413_at_once(
    admin_server: Server, path: str, limit: int
) -> None:
    request_head = head("POST", path, ADMIN_HEADER, b"Content-Length: %d\r\n" % (limit + 1))
    status, body = answer_to_headers(port_of(admin_server), request_head, b"{}        ")
    assert status == 413, body
    assert body["code"] == "payload_too_large"
    assert f"at most {limit // MB} MB" in body["error"]


def experiment_body_of_size(size: int, key: str) -> bytes:
    """A valid experiment whose JSON is exactly ``size`` bytes (padded in the description)."""

    def encoded(padding: int) -> bytes:
        return json.dumps(
            {
                "key": key,
                "name": key,
                "description": "x" * padding,
                "variants": [
                    {"key": "control", "allocation": 50, "is_control": True},
                    {"key": "treatment", "allocation": 50},
                ],
            }
        ).encode()

    body = encoded(size - len(encoded(0)))
    assert len(body) == size
    return body


def post(server: Server, path: str, content: bytes | Iterator[bytes]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    return httpx.post(server.url + path, content=content, headers=headers, timeout=60)


def test_a_body_of_exactly_one_megabyte_is_served_and_one_byte_more_is_413(
    admin_server: Server,
) -> None:
    at_limit = post(admin_server, EXPERIMENTS, experiment_body_of_size(DEFAULT_LIMIT, "at-limit"))
    assert at_limit.status_code == 201, at_limit.text[:300]
    assert len(at_limit.json()["description"]) > DEFAULT_LIMIT - 200
    over = post(admin_server, EXPERIMENTS, experiment_body_of_size(DEFAULT_LIMIT + 1, "over"))
    assert over.status_code == 413, over.text[:300]
    assert over.json() == {
        "error": "A request body may be at most 1 MB",
        "code": "payload_too_large",
    }
    assert (
        httpx.get(
            f"{admin_server.url}/api/experiments/over",
            headers={"Authorization": f"Bearer {ADMIN}"},
        ).status_code
        == 404
    )


def in_chunks(body: bytes, size: int = 65536) -> Iterator[bytes]:
    """A body httpx sends chunked (a generator has no length)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_body_under_the_limit_is_counted_not_refused(admin_server: Server) -> None:
    body = experiment_body_of_size(DEFAULT_LIMIT - 1000, "chunked-under")
    created = post(admin_server, EXPERIMENTS, in_chunks(body))
    assert created.status_code == 201, created.text[:300]
    assert created.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in created.request.headers


def events_of_size(size: int, prefix: str) -> bytes:
    """A valid events batch of a little under ``size`` bytes."""

    def event(i: int) -> dict[str, Any]:
        return {
            "event_id": f"{prefix}-{i:07d}",
            "user_id": f"user-{i % 97:02d}",
            "event_type": "view",
            "properties": {"padding": "p" * 900},
        }

    each = len(json.dumps(event(0))) + 2  # and the ", " between events
    count = (size - len('{"events": []}')) // each
    body = json.dumps({"events": [event(i) for i in range(count)]}).encode()
    assert size - 2 * each < len(body) <= size, len(body)
    return body


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_two_megabyte_batch_is_not_refused_for_its_size(
    admin_server: Server, framing: str
) -> None:
    body = events_of_size(2 * MB, f"two-mb-{framing}")
    assert len(body) > DEFAULT_LIMIT  # over the general limit, under the batches' one
    response = post(admin_server, BATCH, body if framing == "content-length" else in_chunks(body))
    assert response.status_code == 200, response.text[:300]
    answer = response.json()
    assert answer["rejected"] == []
    assert answer["accepted"] == answer["received"] > 1000


def test_a_two_megabyte_assignment_batch_is_not_refused_for_its_size(
    admin_server: Server,
) -> None:
    created = post(admin_server, EXPERIMENTS, experiment_body_of_size(2000, "front-door-batch"))
    assert created.status_code == 201, created.text
    started = post(admin_server, "/api/experiments/front-door-batch/start", b"")
    assert started.status_code == 200, started.text
    users = [
        {"user_id": f"batch-user-{i}", "user_attributes": {"note": "n" * 1000}} for i in range(2000)
    ]
    body = json.dumps({"users": users}).encode()
    assert DEFAULT_LIMIT < len(body) < BATCH_LIMIT
    response = post(admin_server, "/api/experiments/front-door-batch/assignments/batch", body)
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["assignments"]) == 2000


def test_a_two_megabyte_single_event_is_413(admin_server: Server) -> None:
    event = {"user_id": "u", "event_type": "view", "properties": {"padding": "p" * (2 * MB)}}
    response = post(admin_server, "/api/v1/events/", json.dumps(event).encode())
    assert response.status_code == 413, response.text[:300]
    assert response.json()["code"] == "payload_too_large"


def test_a_batch_over_five_megabytes_is_413(admin_server: Server) -> None:
    body = events_of_size(6 * MB, "six-mb")
    assert len(body) > BATCH_LIMIT
    response = post(admin_server, BATCH, body)
    assert response.status_code == 413, response.text[:300]
    assert response.json() == {"error": "A batch may be at most 5 MB", "code": "payload_too_large"}
    chunked = post(admin_server, BATCH, in_chunks(body))
    assert chunked.status_code == 413, chunked.text[:300]
    assert chunked.json()["code"] == "payload_too_large"


def stream_endlessly(port: int, path: str, total: int = 64 * MB) -> tuple[int, bytes]:
    """A chunked upload of up to ``total`` bytes that stops as soon as the server answers;
    (bytes sent, the answer)."""
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head("POST", path, ADMIN_HEADER, b"Transfer-Encoding: chunked\r\n"))
        while sent < total:
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
    return sent, response


@pytest.mark.parametrize("path", [EXPERIMENTS, "/api/v1/users/"])
def test_an_endless_chunked_body_is_refused_once_past_one_megabyte(
    admin_server: Server, path: str
) -> None:
    sent, response = stream_endlessly(port_of(admin_server), path)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"code":"payload_too_large"' in response
    assert b"at most 1 MB" in response
    # 1 MB, plus what the socket buffers held when the answer came: far from all 64 MB.
    assert sent < 16 * MB


# -- what a refused body costs the server ----------------------------------------------------


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_refused_bodies_do_not_grow_the_servers_memory(serve: Any) -> None:
    """A single-process server (its pid is the worker): 50 MB sent after a 401, and 64 MB
    streamed at a 1 MB route, five times each, leave its resident memory where it was."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc/<pid>/status")
    server: Server = serve("--log-level", "warning", env={"SPLITLAB_ADMIN_TOKEN": ADMIN})
    port = port_of(server)

    def refuse_after_401() -> None:
        total = 50 * MB
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head("POST", EXPERIMENTS, b"Content-Length: %d\r\n" % total))
            sock.sendall(b"{" * 10)
            status, headers, _ = read_response(sock)
            assert status == 401
            # The server closes rather than receive (and discard) 50 MB it will never use.
            assert headers.get("connection") == "close"
            block = b"x" * 65536
            closed = False
            try:
                for sent in range(10, total, len(block)):
                    sock.sendall(block[: min(len(block), total - sent)])
                closed = sock.recv(65536) == b""
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            assert closed

    def refuse_stream() -> None:
        _, response = stream_endlessly(port, EXPERIMENTS)
        assert response.startswith(b"HTTP/1.1 413"), response[:200]

    refuse_after_401()
    refuse_stream()  # first of each: imports, buffers and caches that stay
    before = rss_kib(server.process.pid)
    for _ in range(5):
        refuse_after_401()
        refuse_stream()
    grown = rss_kib(server.process.pid) - before
    assert grown < 20 * 1024, f"resident memory grew by {grown} KiB"


# -- a refused body is not an error of the server ---------------------------------------------


def test_a_chunked_body_refused_mid_stream_logs_no_traceback(
    serve: Any,
) -> None:
    server: Server = serve("--log-level", "warning", env={"SPLITLAB_ADMIN_TOKEN": ADMIN})
    _, response = stream_endlessly(port_of(server), EXPERIMENTS)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and "Traceback" not in server.output():
        time.sleep(0.05)
    logged = server.output()
    assert "Traceback" not in logged, re.sub(r"\n\s+", "\n", logged)[-1500:]
