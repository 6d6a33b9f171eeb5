"""HTTP assignment throughput and latency against a real ``splitlab serve`` process.

Starts the server on loopback (a scratch SQLite file, or a scratch database created on the
PostgreSQL server given by ``--database-url`` and dropped afterwards), creates and starts a 50/50
experiment, then measures with a bounded number of concurrent async clients:

- single ``POST /api/experiments/{key}/assignments`` for new users (hash + exposure insert),
- the same for repeat users, answered from their sticky assignment,
- ``POST /api/experiments/{key}/assignments/batch`` with 1,000 new users per request.

Every figure is the median over ``--runs`` runs. The client shares the machine with the server,
so on a small machine the figures are a lower bound of what the server alone could do.

    python -m bench.http_assignment [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--workers 1] [--runs 3] [--requests 1500] [--concurrency 16] [--batches 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from splitlab.storage.engine import normalise_url

ADMIN = "bench-admin-secret-0123456789abcdef"
EXPERIMENT = {
    "key": "bench-checkout",
    "name": "Bench checkout",
    "variants": [{"key": "control", "allocation": 50}, {"key": "treatment", "allocation": 50}],
}


# --- a real server and a scratch database (shared with bench.events_ingest) ---------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120, **kwargs
        )

    def async_client(self, concurrency: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=120,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )


def wait_healthy(process: subprocess.Popen[bytes], url: str, log: Any, what: str) -> None:
    """Wait (up to 60 s) until ``url``/health answers 200; raise with the server's log if the
    process exits or the time runs out."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"{what} did not start:\n{log.read().decode()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


@contextmanager
def running_server(database_url: str, *, workers: int = 1) -> Iterator[Server]:
    """``splitlab serve`` on a free loopback port; stopped (and its workers with it) on exit."""
    script = shutil.which("splitlab", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "splitlab.cli"]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPLITLAB_")}
    env["SPLITLAB_ADMIN_TOKEN"] = ADMIN
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                *command,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--database-url",
                database_url,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        server = Server(f"http://127.0.0.1:{port}", process)
        try:
            wait_healthy(process, server.url, log, "splitlab serve")
            yield server
        finally:
            process.terminate()  # SIGTERM: uvicorn's supervisor also stops its worker processes
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """``--postgres-url`` and ``--no-postgres``, for benchmarks that run on both backends."""
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SPLITLAB_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL server to create a scratch database on (skipped if unreachable)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")


def backend_servers(args: argparse.Namespace) -> list[str | None]:
    """The servers ``add_backend_options`` chose: None (a scratch SQLite file), then the
    PostgreSQL server unless it was turned off or cannot be reached."""
    servers: list[str | None] = [None]
    if not args.no_postgres:
        if postgres_reachable(args.postgres_url):
            servers.append(args.postgres_url)
        else:
            print(f"PostgreSQL at {args.postgres_url} is not reachable: SQLite only")
    return servers


def postgres_reachable(server_url: str) -> bool:
    engine = create_engine(normalise_url(server_url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@contextmanager
def scratch_database(server_url: str | None, directory: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a new database on a PostgreSQL server (dropped)."""
    if server_url is None or make_url(normalise_url(server_url)).get_backend_name() == "sqlite":
        yield server_url or f"sqlite:///{directory / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    admin_url = make_url(normalise_url(server_url))
    name = f"splitlab_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def backend_name(database_url: str) -> str:
    return make_url(normalise_url(database_url)).get_backend_name()


# --- load generation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    per_second: float
    p50_ms: float
    p99_ms: float


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _drive(
    server: Server,
    path: str,
    bodies: Sequence[dict[str, Any]],
    concurrency: int,
    expect_reason: str | None,
    units_per_request: int,
) -> Figures:
    """Send every body with at most ``concurrency`` requests in flight; time each request."""
    latencies: list[float] = []
    queue = iter(bodies)
    async with server.async_client(concurrency) as client:

        async def worker() -> None:
            for body in queue:
                started = time.perf_counter()
                response = await client.post(path, json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
                if expect_reason is not None and response.json()["reason"] != expect_reason:
                    raise RuntimeError(f"expected reason {expect_reason}: {response.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Figures(
        per_second=len(bodies) * units_per_request / elapsed,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
    )


def _median(figures: Sequence[Figures]) -> Figures:
    return Figures(
        statistics.median(f.per_second for f in figures),
        statistics.median(f.p50_ms for f in figures),
        statistics.median(f.p99_ms for f in figures),
    )


def measure(server: Server, args: argparse.Namespace) -> dict[str, Figures]:
    path = f"/api/experiments/{EXPERIMENT['key']}/assignments"
    with server.client() as http:
        for step in (
            http.post("/api/experiments/", json=EXPERIMENT),
            http.post(f"/api/experiments/{EXPERIMENT['key']}/start"),
        ):
            if step.status_code not in (200, 201):
                raise RuntimeError(f"setting up the experiment failed: {step.text}")
    # warm-up: connections, caches, the first exposure inserts
    warm = [{"user_id": f"warm-{i}"} for i in range(200)]
    asyncio.run(_drive(server, path, warm, args.concurrency, None, 1))

    results: dict[str, list[Figures]] = {"new": [], "sticky": [], "batch": []}
    for run in range(args.runs):
        new = [{"user_id": f"new-{run}-{i}"} for i in range(args.requests)]
        results["new"].append(
            asyncio.run(_drive(server, path, new, args.concurrency, "assigned", 1))
        )
        results["sticky"].append(
            asyncio.run(_drive(server, path, new, args.concurrency, "sticky", 1))
        )
        batches = [
            {"users": [{"user_id": f"batch-{run}-{b}-{i}"} for i in range(args.batch_size)]}
            for b in range(args.batches)
        ]
        results["batch"].append(
            asyncio.run(
                _drive(
                    server, f"{path}/batch", batches, args.batch_concurrency, None, args.batch_size
                )
            )
        )
    return {name: _median(runs) for name, runs in results.items()}


def report(figures: dict[str, Figures], args: argparse.Namespace, backend: str) -> str:
    lines = [
        f"HTTP assignment, {backend}, {args.workers} worker(s), median of {args.runs} runs "
        f"({os.cpu_count()} CPUs, client on the same machine)",
        "",
        "| workload | concurrency | throughput | p50 latency | p99 latency |",
        "|---|---:|---:|---:|---:|",
        f"| single POST, new users | {args.concurrency} | {figures['new'].per_second:,.0f} req/s "
        f"| {figures['new'].p50_ms:.1f} ms | {figures['new'].p99_ms:.1f} ms |",
        f"| single POST, sticky (repeat) users | {args.concurrency} "
        f"| {figures['sticky'].per_second:,.0f} req/s | {figures['sticky'].p50_ms:.1f} ms "
        f"| {figures['sticky'].p99_ms:.1f} ms |",
        f"| batch POST, {args.batch_size:,} new users each | {args.batch_concurrency} "
        f"| {figures['batch'].per_second:,.0f} users/s | {figures['batch'].p50_ms:.0f} ms "
        f"| {figures['batch'].p99_ms:.0f} ms |",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server URL (a scratch database is created there and dropped); "
        "default: a scratch SQLite file",
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1500, help="single requests per run")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--batches", type=int, default=8, help="batch requests per run")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batch-concurrency", type=int, default=2)
    args = parser.parse_args(argv)

    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.database_url, Path(tmp)) as url,
        running_server(url, workers=args.workers) as server,
    ):
        figures = measure(server, args)
    print(report(figures, args, backend_name(url)))
    print(f"\n(total {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
