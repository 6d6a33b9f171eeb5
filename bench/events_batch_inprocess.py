"""One 10,000-event batch through the ingestion path in process, without HTTP.

What ``POST /api/v1/events/batch`` does, stage by stage: ``events.service.record_batch_body``
(parsing and validation, experiment lookup, ``insert_events`` with the fold into the exposed
users' totals), the commit, and the response model's JSON. The batch's 5,000 users are exposed
first, as in production, so each event is folded into its user's totals. Wall time and this
process's CPU time are reported separately: on PostgreSQL the difference is mostly the database
server's own work. A batch of new events and then the same batch again (all duplicates). With
``--profile``, a cProfile of one batch; with ``--gc-tuning``, the collector set up as
``splitlab serve`` sets it (``app.tune_gc``).

HTTP figures (``bench.events_ingest``) swing with whatever else runs on the machine; CPU time of
the in-process path moves much less, so before/after comparisons are easier to trust.

    python -m bench.events_batch_inprocess [--postgres-url URL] [--no-postgres] [--batches 6]
        [--profile] [--gc-tuning]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.http_assignment import (
    add_backend_options,
    backend_name,
    backend_servers,
    scratch_database,
)
from splitlab.api.v1.events import BatchRead, Rejected
from splitlab.app import tune_gc
from splitlab.assignment.service import Assigner, AssignmentRequest
from splitlab.events import service
from splitlab.experiments import service as experiments
from splitlab.experiments.schemas import ExperimentSpec, VariantSpec
from splitlab.storage.engine import Database
from splitlab.storage.migrate import upgrade
from splitlab.workspaces import service as workspaces

BATCH = 10_000
USERS = 5_000


def batch_body(run: int) -> bytes:
    """The same shape as ``bench.events_ingest``: client ids, a value, a timestamp, two props."""
    now = datetime.now(UTC)
    events = [
        {
            "event_id": f"r{run}-{i}",
            "experiment_id": "bench-ingest",
            "user_id": f"user-{i % USERS}",
            "event_type": ("view", "click", "purchase", "signup")[i % 4],
            "properties": {"value": round((i % 97) * 1.25, 2), "page": f"/p/{i % 41}"},
            "timestamp": (now - timedelta(seconds=i)).isoformat(),
        }
        for i in range(BATCH)
    ]
    return json.dumps({"events": events}).encode()


def one_batch(db: Database, body: bytes) -> tuple[service.BatchResult, float, float]:
    """(result, wall seconds, CPU seconds of this process) of one request's work."""
    wall, cpu = time.perf_counter(), time.process_time()
    with db.session_scope() as session:
        workspace = workspaces.ensure(session, "default", name="Default workspace")
        result = service.record_batch_body(session, workspace, body)
    BatchRead(
        received=result.received,
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[
            Rejected(index=r.index, error=r.error, details=r.details) for r in result.rejected
        ],
        event_ids=result.event_ids,
    ).model_dump_json()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(database_url: str, batches: int, profile: bool) -> dict[str, list[float]]:
    db = Database(database_url)
    try:
        upgrade(db.engine)
        with db.session_scope() as session:
            workspace = workspaces.ensure(session, "default", name="Default workspace")
            spec = ExperimentSpec(
                key="bench-ingest",
                name="Bench ingest",
                variants=[
                    VariantSpec(key="control", allocation=50),
                    VariantSpec(key="treatment", allocation=50),
                ],
                status="running",
            )
            experiments.create_experiment(session, workspace, spec, actor="bench")
            users = [AssignmentRequest(user_id=f"user-{u}") for u in range(USERS)]
            Assigner().assign_many(session, workspace, "bench-ingest", users)
        one_batch(db, batch_body(-1))  # warm-up: imports, statement caches, pool
        figures: dict[str, list[float]] = {"wall": [], "cpu": [], "dup_wall": [], "dup_cpu": []}
        for run in range(batches):
            body = batch_body(run)
            result, wall, cpu = one_batch(db, body)
            if result.accepted != BATCH:
                raise RuntimeError(f"only {result.accepted} of {BATCH} events were accepted")
            again, dup_wall, dup_cpu = one_batch(db, body)
            if again.duplicates != BATCH:
                raise RuntimeError(f"only {again.duplicates} of {BATCH} were duplicates")
            figures["wall"].append(wall)
            figures["cpu"].append(cpu)
            figures["dup_wall"].append(dup_wall)
            figures["dup_cpu"].append(dup_cpu)
        if profile:
            profiler = cProfile.Profile()
            body = batch_body(batches)
            profiler.enable()
            one_batch(db, body)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        return figures
    finally:
        db.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_options(parser)
    parser.add_argument("--batches", type=int, default=6, help="timed batches per backend")
    parser.add_argument("--profile", action="store_true", help="cProfile one more batch")
    parser.add_argument("--gc-tuning", action="store_true", help="tune the GC as serve does")
    args = parser.parse_args(argv)
    if args.gc_tuning:
        tune_gc()
    servers = backend_servers(args)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for server in servers:
            with scratch_database(server, Path(tmp)) as url:
                figures = measure(url, args.batches, args.profile)
            median = {k: statistics.median(v) for k, v in figures.items()}
            rows.append(
                f"| {backend_name(url)} | {median['wall']:.3f} s | {median['cpu']:.3f} s | "
                f"{BATCH / median['wall']:,.0f} | {median['dup_wall']:.3f} s | "
                f"{median['dup_cpu']:.3f} s |"
            )
    print(f"\n{BATCH:,}-event batch in process, median of {args.batches}\n")
    print("| backend | wall | CPU (this process) | events/s | duplicates: wall | CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
