"""SDK exposures through ``POST /api/v1/exposures/batch``, beside the events batch, and the
SDK payload with and without its ``ETag``.

A real ``splitlab serve`` on a scratch database per backend (SQLite, and PostgreSQL when
reachable). Each round sends, one request after another:

1. **exposures**: 10,000 exposures of 10,000 new users (as a GrowthBook SDK's
   ``trackingCallback`` reports them: experiment key, variant, attributes, timestamp, exposure
   id), all accepted;
2. **events**: 10,000 events of those same users (the floor the issue sets: the events batch's
   rate), each folded into its user's exposure totals.

Bodies are pre-encoded, so the client's JSON encoding is not timed. Rates are medians over the
rounds; the ratio is each round's exposures/s over its events/s.

Then the payload: ``GET /api/features/{clientKey}`` with an ``sdk`` key, ``--gets`` requests one
after another, without ``If-None-Match`` (200 with the body) and with it (304, no body);
req/s median over the rounds. Neither reads the database: both come from the control-plane
cache (``tests/api/test_sdk_routes.py`` counts the statements: none).

    python -m bench.exposures_ingest [--no-postgres] [--rounds 5] [--gets 2000] [--experiments 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.http_assignment import (
    add_backend_options,
    backend_name,
    backend_servers,
    running_server,
    scratch_database,
)

BATCH = 10_000


def _exposures(round_: int) -> bytes:
    now = datetime.now(UTC)
    items = [
        {
            "experiment_key": "bench-sdk",
            "variation_id": i % 2,
            "user_id": f"r{round_}-user-{i}",
            "attributes": {"id": f"r{round_}-user-{i}", "country": ("DE", "FR", "US")[i % 3]},
            "timestamp": (now - timedelta(seconds=i % 600)).isoformat(),
            "exposure_id": f"r{round_}-x{i}",
        }
        for i in range(BATCH)
    ]
    return json.dumps({"exposures": items}).encode()


def _events(round_: int) -> bytes:
    now = datetime.now(UTC)
    events = [
        {
            "event_id": f"r{round_}-e{i}",
            "user_id": f"r{round_}-user-{i}",
            "event_type": ("view", "click", "purchase", "signup")[i % 4],
            "value": round((i % 97) * 1.25, 2),
            "timestamp": now.isoformat(),
        }
        for i in range(BATCH)
    ]
    return json.dumps({"events": events}).encode()


def _timed_post(client: httpx.Client, path: str, body: bytes, key: str) -> float:
    started = time.perf_counter()
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    if response.json()["accepted"] != BATCH:
        raise RuntimeError(f"not every {key} was accepted: {response.text[:300]}")
    return BATCH / elapsed


def _gets(client: httpx.Client, path: str, count: int, etag: str | None) -> float:
    headers = {"If-None-Match": etag} if etag else {}
    expected = 304 if etag else 200
    started = time.perf_counter()
    for _ in range(count):
        response = client.get(path, headers=headers)
        if response.status_code != expected:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
    return count / (time.perf_counter() - started)


def measure(database_url: str, rounds: int, gets: int, experiments: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"exposures": [], "events": [], "ratio": []}
    figures |= {"payload 200": [], "payload 304": []}
    with running_server(database_url) as server, server.client() as http:
        for n in range(experiments):
            key = "bench-sdk" if n == 0 else f"bench-sdk-{n}"
            body = {
                "key": key,
                "name": key,
                "variants": [{"key": "control"}, {"key": "treatment"}],
                "targeting": {"condition": {"country": {"$in": ["DE", "FR", "US"]}}},
            }
            http.post("/api/experiments/", json=body).raise_for_status()
            http.post(f"/api/experiments/{key}/start").raise_for_status()
        sdk_key = http.post("/api/v1/api-tokens/", json={"name": "web", "scope": "sdk"}).json()
        key = sdk_key["token"]
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as sdk:
            _timed_post(sdk, "/api/v1/exposures/batch", _exposures(-1), "exposure")  # warm-up
            _timed_post(sdk, "/api/v1/events/batch", _events(-1), "event")
            path = f"/api/features/{key}"
            etag = sdk.get(path).headers["etag"]
            for round_ in range(rounds):
                exposures = _timed_post(
                    sdk, "/api/v1/exposures/batch", _exposures(round_), "exposure"
                )
                events = _timed_post(sdk, "/api/v1/events/batch", _events(round_), "event")
                figures["exposures"].append(exposures)
                figures["events"].append(events)
                figures["ratio"].append(exposures / events)
                figures["payload 200"].append(_gets(sdk, path, gets, None))
                figures["payload 304"].append(_gets(sdk, path, gets, etag))
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_options(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gets", type=int, default=2000, help="payload requests per round")
    parser.add_argument("--experiments", type=int, default=20, help="running experiments")
    args = parser.parse_args(argv)
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for server_url in backend_servers(args):
            with scratch_database(server_url, Path(tmp)) as url:
                name = backend_name(url)
                print(f"measuring on {name} ...", flush=True)
                figures = measure(url, args.rounds, args.gets, args.experiments)
            med = {k: statistics.median(v) for k, v in figures.items()}
            rows.append(
                f"| {name} | {med['exposures']:,.0f} | {med['events']:,.0f} | "
                f"{med['ratio']:.2f} | {med['payload 200']:,.0f} | {med['payload 304']:,.0f} |"
            )
    print(
        f"\nmachine: {os.cpu_count()} CPUs, client and server on it; one server worker; "
        f"{BATCH:,}-item batches one after another; payload of {args.experiments} experiments "
        f"({args.gets} sequential GETs); medians of {args.rounds} rounds\n"
    )
    print(
        "| backend | exposures/s | events/s (same rounds) | exposures / events | "
        "payload 200 req/s | payload 304 req/s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
