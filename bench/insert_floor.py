"""The database's own floor under ingestion: a 10,000-row idempotent insert and its commit.

The same statement shape the batch path runs (one JSON parameter unpacked by the database,
``ON CONFLICT (workspace_id, event_id) DO NOTHING``) into the migrated ``events`` table with all
its indexes, with nothing else: no validation, no fold, no HTTP. Each batch is encoded before its
timer starts. Whatever the request path does, ingestion on one stream of batches cannot beat
``10,000 / (insert + commit)`` events per second.

    python -m bench.insert_floor [--postgres-url URL] [--no-postgres] [--batches 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.http_assignment import (
    add_backend_options,
    backend_name,
    backend_servers,
    scratch_database,
)
from splitlab.events import repository
from splitlab.storage.engine import Database
from splitlab.storage.migrate import upgrade

ROWS = 10_000

_INSERT = {
    "postgresql": "INSERT INTO events ({c}) SELECT 1, (e->>0)::integer, e->>1, e->>2, e->>3, "
    "(e->>4)::double precision, e->5, (e->>6)::timestamptz, now() "
    "FROM jsonb_array_elements(CAST(%s AS jsonb)) AS r(e) "
    "ON CONFLICT (workspace_id, event_id) DO NOTHING",
    "sqlite": "INSERT INTO events ({c}) SELECT 1, json_extract(value, '$[0]'), "
    "json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), "
    "json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[6]'), "
    "'2026-01-01 00:00:00.000000' FROM json_each(?) WHERE true "
    "ON CONFLICT (workspace_id, event_id) DO NOTHING",
}


def batch(dialect: str) -> str:
    """10,000 rows shaped like the benchmark's events (5,000 users, a value, two properties)."""
    now = datetime.now(UTC)
    stamp = now.isoformat() if dialect == "postgresql" else now.strftime("%Y-%m-%d %H:%M:%S.%f")
    rows: list[list[Any]] = [
        [
            None,
            uuid.uuid4().hex,
            f"user-{i % 5000}",
            ("view", "click", "purchase", "signup")[i % 4],
            round((i % 97) * 1.25, 2),
            {"value": round((i % 97) * 1.25, 2), "page": f"/p/{i % 41}"},
            stamp,
        ]
        for i in range(ROWS)
    ]
    return json.dumps(rows)


def measure(url: str, batches: int) -> dict[str, list[float]]:
    db = Database(url)
    upgrade(db.engine)
    dialect = backend_name(url)
    columns = ", ".join(repository._COLUMN_NAMES)
    insert = _INSERT[dialect].format(c=columns)
    figures: dict[str, list[float]] = {"insert": [], "commit": []}
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        for _ in range(batches + 1):  # the first is a warm-up
            payload = batch(dialect)
            started = time.perf_counter()
            if dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(insert, (payload,))
            inserted = time.perf_counter()
            connection.commit()
            committed = time.perf_counter()
            figures["insert"].append(inserted - started)
            figures["commit"].append(committed - inserted)
    finally:
        connection.close()
        db.dispose()
    return {name: values[1:] for name, values in figures.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_options(parser)
    parser.add_argument("--batches", type=int, default=8, help="timed batches per backend")
    args = parser.parse_args(argv)
    servers = backend_servers(args)
    print(f"10,000-row insert into the events table, median of {args.batches} batches\n")
    print("| backend | insert | commit | ceiling, events/s |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for server in servers:
            with scratch_database(server, Path(tmp)) as url:
                figures = measure(url, args.batches)
            insert, commit = (statistics.median(figures[k]) for k in ("insert", "commit"))
            print(
                f"| {backend_name(url)} | {insert * 1000:.0f} ms | {commit * 1000:.0f} ms "
                f"| {ROWS / (insert + commit):,.0f} |"
            )


if __name__ == "__main__":
    main()
