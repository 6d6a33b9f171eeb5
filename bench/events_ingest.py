"""Event ingestion rate through the batch endpoint, and the cost of one experiment's aggregates.

Part 1 — ingestion: a real ``splitlab serve`` on a scratch database; ``--batches`` requests of
10,000 events (client event ids, a value, a timestamp, two properties) per run, sent one after
another (or ``--concurrency`` at a time, to ``--workers`` server processes) and pre-encoded so
the client's JSON encoding is not timed; events/s is the median of the
runs' rates. The 50,000 users the events name are exposed to the experiment beforehand, so each
batch also pays for folding its events into the per-user totals analysis reads.

Part 2 — aggregation: ``splitlab.events.aggregates.sufficient_statistics`` for one experiment with
three metrics (conversion, numeric, count) at 10k, 100k and 1M exposed users, 10 events each (two
of them before exposure, in the CUPED window). The rows are generated inside the database
(``generate_series`` on PostgreSQL, a recursive CTE on SQLite), not through the API, and the
per-user totals are then rebuilt once from them (what the write path would have kept); only the
aggregation is timed (median of ``--agg-runs`` after one untimed warm-up run). All sizes live in
one database, one experiment per size, so the events table holds every size's events, as a real
deployment's would. The 1M case (10M events) runs on PostgreSQL; on SQLite it is opt-in with
``--sqlite-1m`` because generating and indexing 10M rows there takes minutes.

Both parts run on SQLite and, when reachable, on PostgreSQL (a scratch database is created on
``--postgres-url`` and dropped).

    python -m bench.events_ingest [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--no-postgres] [--runs 3] [--batches 3] [--workers 1] [--concurrency 1]
        [--sizes 10000,100000,1000000] [--sqlite-1m]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, UniqueConstraint, select, text
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from bench.http_assignment import (
    add_backend_options,
    backend_name,
    backend_servers,
    running_server,
    scratch_database,
)
from splitlab.events import totals
from splitlab.events.aggregates import MetricSpec, sufficient_statistics
from splitlab.experiments import service as experiments
from splitlab.experiments.schemas import ExperimentSpec, VariantSpec
from splitlab.metrics.model import MetricKind
from splitlab.storage.engine import Database
from splitlab.storage.migrate import upgrade
from splitlab.storage.models import Event, Exposure, Variant
from splitlab.workspaces import service as workspaces

BATCH = 10_000
EVENTS_PER_USER = 10
METRICS = [
    MetricSpec("signed_up", "signup", MetricKind.CONVERSION),
    MetricSpec("revenue", "purchase", MetricKind.NUMERIC),
    MetricSpec("page_views", "view", MetricKind.COUNT),
]
T0 = datetime(2026, 1, 10, tzinfo=UTC)
#: Distinct users the ingestion batches name (all exposed before timing starts).
USERS = 50_000

# --- part 1: ingestion over HTTP --------------------------------------------------------------


def _batch_body(run: int, batch: int) -> bytes:
    now = datetime.now(UTC)
    events = [
        {
            "event_id": f"r{run}-b{batch}-{i}",
            "experiment_id": "bench-ingest",
            "user_id": f"user-{(batch * BATCH + i) % USERS}",
            "event_type": ("view", "click", "purchase", "signup")[i % 4],
            "properties": {"value": round((i % 97) * 1.25, 2), "page": f"/p/{i % 41}"},
            "timestamp": (now - timedelta(seconds=i)).isoformat(),
        }
        for i in range(BATCH)
    ]
    return json.dumps({"events": events}).encode()


def ingest(
    database_url: str, runs: int, batches: int, *, workers: int = 1, concurrency: int = 1
) -> list[float]:
    """Events/s of each run: ``batches`` 10,000-event requests, ``concurrency`` in flight (each
    from its own thread and connection) against ``workers`` server processes."""
    rates: list[float] = []
    headers = {"Content-Type": "application/json"}

    def send(client: httpx.Client, body: bytes) -> None:
        response = client.post("/api/v1/events/batch", content=body, headers=headers)
        response.raise_for_status()
        if response.json()["accepted"] != BATCH:
            raise RuntimeError(f"not every event was accepted: {response.text[:300]}")

    with running_server(database_url, workers=workers) as server, server.client() as http:
        created = http.post(
            "/api/experiments/",
            json={
                "key": "bench-ingest",
                "name": "Bench ingest",
                "variants": [{"key": "control"}, {"key": "treatment"}],
            },
        )
        if created.status_code != 201:
            raise RuntimeError(f"creating the experiment failed: {created.text}")
        # Every user the batches name is exposed first, as in production: each stored event is
        # then folded into its user's per-exposure totals (``events.totals``), which is part of
        # the cost measured.
        http.post("/api/experiments/bench-ingest/start").raise_for_status()
        for start in range(0, USERS, BATCH):
            users = [{"user_id": f"user-{u}"} for u in range(start, start + BATCH)]
            http.post(
                "/api/experiments/bench-ingest/assignments/batch", json={"users": users}
            ).raise_for_status()
        clients = [server.client() for _ in range(concurrency)]
        try:
            for warm, client in enumerate(clients):  # every connection and worker warmed up
                send(client, _batch_body(-1 - warm, 0))
            with ThreadPoolExecutor(concurrency) as pool:
                for run in range(runs):
                    bodies = [_batch_body(run, b) for b in range(batches)]
                    started = time.perf_counter()
                    done = pool.map(
                        lambda client, lane: [send(client, body) for body in lane],
                        clients,
                        [bodies[lane::concurrency] for lane in range(concurrency)],
                    )
                    list(done)  # re-raises the first failure
                    rates.append(batches * BATCH / (time.perf_counter() - started))
        finally:
            for client in clients:
                client.close()
    return rates


# --- part 2: sufficient statistics over generated data ----------------------------------------

PG_EXPOSURES = """
INSERT INTO exposures (workspace_id, experiment_id, variant_id, user_id, bucket_version,
                       is_override, context, exposed_at)
SELECT :workspace, :experiment, CASE WHEN u % 2 = 0 THEN :control ELSE :treatment END,
       :prefix || u, 0, false, '{}'::jsonb,
       timestamptz '2026-01-10 00:00:00+00' + (u % 604800) * interval '1 second'
FROM generate_series(1, :users) AS u
"""
# k-major order: consecutive rows belong to different users, as events arriving over time do.
PG_EVENTS = """
INSERT INTO events (workspace_id, experiment_id, event_id, user_id, event_type, value,
                    properties, timestamp, received_at)
SELECT :workspace, CASE WHEN k % 3 = 0 THEN NULL ELSE :experiment END,
       :prefix || u || '-' || k, :prefix || u,
       CASE (u + k) % 5 WHEN 0 THEN 'view' WHEN 1 THEN 'view' WHEN 2 THEN 'click'
            WHEN 3 THEN 'purchase' ELSE CASE WHEN u % 3 = 0 THEN 'signup' ELSE 'other' END END,
       CASE WHEN (u + k) % 5 = 3 THEN (u % 50) + k * 0.5 END, '{}'::jsonb,
       timestamptz '2026-01-10 00:00:00+00' + (u % 604800) * interval '1 second'
           + (k - 2) * interval '1 hour',
       timestamptz '2026-01-10 00:00:00+00' + (u % 604800) * interval '1 second'
           + (k - 2) * interval '1 hour'
FROM generate_series(0, 9) AS k CROSS JOIN generate_series(1, :users) AS u
"""
# SQLite stores naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; the generated values match it.
SQLITE_SERIES = "WITH RECURSIVE s(u) AS (SELECT 1 UNION ALL SELECT u + 1 FROM s WHERE u < :users) "
SQLITE_EXPOSURES = (
    SQLITE_SERIES
    + """
INSERT INTO exposures (workspace_id, experiment_id, variant_id, user_id, bucket_version,
                       is_override, context, exposed_at)
SELECT :workspace, :experiment, CASE WHEN u % 2 = 0 THEN :control ELSE :treatment END,
       :prefix || u, 0, 0, '{}',
       strftime('%Y-%m-%d %H:%M:%S', '2026-01-10 00:00:00', '+' || (u % 604800) || ' seconds')
           || '.000000'
FROM s
"""
)
SQLITE_EVENTS = (
    SQLITE_SERIES
    + """, ks(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM ks WHERE k < 9)
INSERT INTO events (workspace_id, experiment_id, event_id, user_id, event_type, value,
                    properties, timestamp, received_at)
SELECT :workspace, CASE WHEN k % 3 = 0 THEN NULL ELSE :experiment END,
       :prefix || u || '-' || k, :prefix || u,
       CASE (u + k) % 5 WHEN 0 THEN 'view' WHEN 1 THEN 'view' WHEN 2 THEN 'click'
            WHEN 3 THEN 'purchase' ELSE CASE WHEN u % 3 = 0 THEN 'signup' ELSE 'other' END END,
       CASE WHEN (u + k) % 5 = 3 THEN (u % 50) + k * 0.5 END, '{}', ts, ts
FROM (SELECT u, k, strftime('%Y-%m-%d %H:%M:%S', '2026-01-10 00:00:00',
                            ((u % 604800) + (k - 2) * 3600) || ' seconds')
                   || '.000000' AS ts
      FROM ks CROSS JOIN s)
"""
)


def _create_experiment(db: Database, key: str) -> tuple[int, int, int, int]:
    with db.session_scope() as session:
        workspace = workspaces.ensure(session, "default", name="Default workspace")
        experiment = experiments.create_experiment(
            session,
            workspace,
            ExperimentSpec(
                key=key,
                name=key,
                variants=[
                    VariantSpec(key="control", allocation=50),
                    VariantSpec(key="treatment", allocation=50),
                ],
                status="running",
            ),
            actor="bench",
        )
        control, treatment = session.scalars(
            select(Variant.id)
            .where(Variant.experiment_id == experiment.id)
            .order_by(Variant.position)
        )
        return workspace.id, experiment.id, control, treatment


def _unique_constraints() -> list[UniqueConstraint]:
    return [
        c
        for table in (Event.__table__, Exposure.__table__)
        for c in table.constraints
        if isinstance(c, UniqueConstraint)
    ]


def _drop_indexes(engine: Engine) -> list[Any]:
    """Drop the events/exposures indexes for a bulk load; they are rebuilt once afterwards.

    SQLite cannot drop a table's unique constraints, so those stay (and slow its load down).
    """
    indexes = [*Event.__table__.indexes, *Exposure.__table__.indexes]
    with engine.begin() as conn:
        for index in indexes:
            conn.execute(DropIndex(index))
        if engine.dialect.name == "postgresql":
            for constraint in _unique_constraints():
                conn.execute(DropConstraint(constraint))
    return indexes


def generate(db: Database, sizes: Sequence[int]) -> dict[int, tuple[int, int]]:
    """One experiment per size with ``size`` exposures and 10 events per user; returns
    ``{size: (workspace_id, experiment_id)}``."""
    backend = db.backend
    created = {size: _create_experiment(db, f"agg-{size}") for size in sizes}
    indexes = _drop_indexes(db.engine)
    with db.engine.begin() as conn:
        if backend == "postgresql":
            # Foreign-key triggers off for the load: every id inserted here exists by construction.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        exposures, events = (
            (PG_EXPOSURES, PG_EVENTS)
            if backend == "postgresql"
            else (SQLITE_EXPOSURES, SQLITE_EVENTS)
        )
        for size, (workspace, experiment, control, treatment) in created.items():
            params = {
                "workspace": workspace,
                "experiment": experiment,
                "control": control,
                "treatment": treatment,
                "prefix": f"s{size}-u",
                "users": size,
            }
            conn.execute(text(exposures), params)
            conn.execute(text(events), params)
    with db.engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            for constraint in _unique_constraints():
                conn.execute(AddConstraint(constraint))
        for index in indexes:
            conn.execute(CreateIndex(index))
    with db.session_scope() as session:
        # Loaded in bulk past the write path, so the per-user totals are folded once here.
        for _, experiment, _, _ in created.values():
            totals.rebuild(session, experiment)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # What autovacuum / a DBA would have done: fresh planner statistics.
        conn.execute(text("VACUUM ANALYZE" if backend == "postgresql" else "ANALYZE"))
    return {size: (ws, exp) for size, (ws, exp, _, _) in created.items()}


def time_aggregates(db: Database, workspace: int, experiment: int, runs: int) -> list[float]:
    times: list[float] = []
    for run in range(runs + 1):
        with db.session_scope() as session:
            started = time.perf_counter()
            result = sufficient_statistics(
                session,
                experiment_id=experiment,
                bucket_version=0,
                metrics=METRICS,
            )
            elapsed = time.perf_counter() - started
        if run:  # the first run only warms caches
            times.append(elapsed)
    if sum(m.n for per_metric in result.values() for m in list(per_metric.values())[:1]) == 0:
        raise RuntimeError("the aggregation saw no exposures")
    return times


def aggregate(database_url: str, sizes: Sequence[int], runs: int) -> dict[int, list[float]]:
    db = Database(database_url)
    try:
        upgrade(db.engine)
        started = time.perf_counter()
        experiments_by_size = generate(db, sizes)
        print(
            f"  generated {sum(sizes):,} exposures and {sum(sizes) * EVENTS_PER_USER:,} events "
            f"on {db.backend} in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        return {
            size: time_aggregates(db, *experiments_by_size[size], runs) for size in sorted(sizes)
        }
    finally:
        db.dispose()


# --- driver -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_options(parser)
    parser.add_argument("--runs", type=int, default=3, help="ingestion runs")
    parser.add_argument("--batches", type=int, default=3, help="10,000-event requests per run")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight")
    parser.add_argument("--agg-runs", type=int, default=3, help="timed aggregation runs")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="exposed users")
    parser.add_argument(
        "--sqlite-1m", action="store_true", help="also run sizes over 100k on SQLite (slow)"
    )
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-aggregate", action="store_true")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",")})

    backends = backend_servers(args)  # None: a scratch SQLite file

    ingest_rows: list[str] = []
    agg_rows: list[str] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for server_url in backends:
            if not args.skip_ingest:
                with scratch_database(server_url, Path(tmp)) as url:
                    name = backend_name(url)
                    print(f"ingesting on {name} ...", flush=True)
                    rates = ingest(
                        url,
                        args.runs,
                        args.batches,
                        workers=args.workers,
                        concurrency=args.concurrency,
                    )
                ingest_rows.append(
                    f"| {name} | {statistics.median(rates):,.0f} | "
                    f"{min(rates):,.0f} to {max(rates):,.0f} | {len(rates)} |"
                )
            if not args.skip_aggregate:
                with scratch_database(server_url, Path(tmp)) as url:
                    name = backend_name(url)
                    here = [
                        s for s in sizes if name == "postgresql" or args.sqlite_1m or s <= 100_000
                    ]
                    skipped += [f"{s:,} users on {name}" for s in sizes if s not in here]
                    print(f"aggregating on {name} ({', '.join(map(str, here))} users) ...")
                    for size, times in aggregate(url, here, args.agg_runs).items():
                        agg_rows.append(
                            f"| {name} | {size:,} | {size * EVENTS_PER_USER:,} | "
                            f"{statistics.median(times):.3f} s | {min(times):.3f} to "
                            f"{max(times):.3f} s |"
                        )

    print(f"\nmachine: {os.cpu_count()} CPUs; client and server on the same machine\n")
    if ingest_rows:
        print(
            f"Ingestion, POST /api/v1/events/batch, {BATCH:,}-event batches, "
            f"{args.concurrency} in flight, {args.workers} server worker(s),"
        )
        print(f"{args.batches} batches per run, median of {args.runs} runs (aim: >= 100,000/s)\n")
        print("| backend | events/s (median) | range | runs |\n|---|---:|---:|---:|")
        print("\n".join(ingest_rows))
        print()
    if agg_rows:
        print("sufficient_statistics, 3 metrics (conversion, numeric, count), 10 events per user,")
        print(f"median of {args.agg_runs} warm runs (aim: <= 1 s at 1M users)\n")
        print("| backend | exposed users | events | time (median) | range |")
        print("|---|---:|---:|---:|---:|")
        print("\n".join(agg_rows))
        if skipped:
            print(f"\nnot run: {', '.join(skipped)} (pass --sqlite-1m to include)")


if __name__ == "__main__":
    main()
