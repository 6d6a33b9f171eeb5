"""Time the candidate metric designs of issue 18 on data from ``generate.py``; print a table.

Sections (``--sections``, default all, in this order; later ones need earlier ones' tables):

- ``floor``   ``SELECT count(*), sum(value) FROM events``: a bare scan, the yardstick.
- ``A``       results for the 10 metrics from raw events: one statement, and one per metric.
- ``B``       backfill each metric into ``metric_user_values`` (the "define a metric" cost), then
              results from it: plain scan, with a covering index, and from per-variant rollups.
- ``C``       lift over time (30 days, cumulative): raw events vs per-(metric, user, day) rows.
- ``D``       breakdown by ``exposures.context->>'country'`` (top 20 + other), 1 and 3 metrics.
- ``fold``    design B's write path: a 10,000-event insert, then folding it into 10 metrics.
- ``ingest``  backfilling a new metric while another connection keeps inserting event batches.

Read timings are medians of ``--runs`` runs (warm cache) under each ``--configs`` setting
(``default``: the server's work_mem / parallel workers; ``tuned``: work_mem 256MB, 2 workers;
``nojit``: as tuned with ``jit = off``; ``serial``: as nojit without parallel workers).
``--explain DIR`` writes each query's ``EXPLAIN (ANALYZE, BUFFERS)`` there, once per config.
Changes the database (adds tables and, in ``fold``/``ingest``, events): use a scratch copy.

    python -m bench.metrics_prototype.measure --url postgresql://postgres@127.0.0.1/DB \
        [--sections floor,A,B,C,D,fold,ingest] [--configs default,tuned] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.metrics_prototype import metrics as q
from bench.metrics_prototype.metrics import BY_ID, METRICS

CONFIGS = {
    "default": {},
    "tuned": {"work_mem": "256MB", "max_parallel_workers_per_gather": "2"},
    # JIT compiles the big FILTER aggregates: ~2 s of a 7.5 s design-A statement (EXPLAIN).
    "nojit": {"work_mem": "256MB", "max_parallel_workers_per_gather": "2", "jit": "off"},
    "serial": {"work_mem": "256MB", "max_parallel_workers_per_gather": "0", "jit": "off"},
}
FLOOR = "SELECT count(*), sum(value) FROM events"


class Bench:
    def __init__(self, url: str, runs: int, explain: Path | None) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.url = url
        self.runs = runs
        self.explain_dir = explain
        self.rows: list[dict[str, Any]] = []
        self.config = "default"
        self.floor: dict[str, float] = {}
        started, ended = self.conn.execute(
            "SELECT started_at, ended_at FROM proto_experiment WHERE id = 1"
        ).fetchone()
        self.started_at, self.ended_at = started.isoformat(), ended.isoformat()
        self.max_id = self.conn.execute("SELECT max(id) FROM events").fetchone()[0]
        self.params = {"ended_at": ended, "max_id": self.max_id}

    def configure(self, name: str) -> None:
        self.config = name
        self.conn.execute("RESET ALL")
        for key, value in CONFIGS[name].items():
            self.conn.execute(f"SET {key} = '{value}'")

    def _run(self, sql: str, params: dict[str, Any] | None = None) -> float:
        t0 = time.perf_counter()
        self.conn.execute(sql, params).fetchall()
        return time.perf_counter() - t0

    def record(self, section: str, what: str, seconds: float, note: str = "") -> None:
        floor = None if "rate" in what else self.floor.get(self.config)
        row = {
            "section": section,
            "what": what,
            "config": self.config,
            "seconds": seconds,
            "floor_ratio": seconds / floor if floor else None,
            "note": note,
        }
        self.rows.append(row)
        ratio = f"{row['floor_ratio']:6.2f}x" if floor else "      -"
        print(
            f"  {section:6} {what:58} {self.config:8} {seconds:8.3f} s {ratio}  {note}", flush=True
        )

    def time(self, section: str, what: str, sqls: list[str] | str, note: str = "") -> float:
        """Median over runs of running all ``sqls`` in turn (plus one EXPLAIN each, once)."""
        sqls = [sqls] if isinstance(sqls, str) else sqls
        times = [sum(self._run(s, self.params) for s in sqls) for _ in range(self.runs)]
        median = statistics.median(times)
        self.record(section, what, median, note)
        if self.explain_dir:
            name = re.sub(r"\W+", "_", f"{section}_{what}_{self.config}").strip("_")
            plans = []
            for s in sqls[:2]:  # per-metric loops: the first two are representative
                plan = self.conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + s, self.params).fetchall()
                plans.append(s + "\n\n" + "\n".join(r[0] for r in plan))
            (self.explain_dir / f"{name}.txt").write_text("\n\n----\n\n".join(plans))
        return median

    def once(
        self,
        section: str,
        what: str,
        sql: str,
        params: dict[str, Any] | None = None,
        note: str = "",
    ) -> float:
        seconds = self._run_write(sql, params or self.params)
        self.record(section, what, seconds, note)
        return seconds

    def _run_write(self, sql: str, params: dict[str, Any]) -> float:
        t0 = time.perf_counter()
        self.conn.execute(sql, params)
        return time.perf_counter() - t0


# --- sections -----------------------------------------------------------------------------------


def floor(b: Bench) -> None:
    b._run(FLOOR)  # warm the cache
    b.floor[b.config] = b.time("floor", "count(*), sum(value) FROM events (10M rows)", FLOOR)


def section_a(b: Bench) -> None:
    b.time("A", "10 metrics, one statement (FILTER per metric)", q.results_raw(METRICS, b.ended_at))
    b.time(
        "A",
        "10 metrics, one statement per metric (sum of 10)",
        [q.results_raw([m], b.ended_at) for m in METRICS],
    )
    for m in (BY_ID[3], BY_ID[6], BY_ID[8], BY_ID[9]):
        b.time("A", f"1 metric: {m.key}", q.results_raw([m], b.ended_at))


def backfill_all(b: Bench) -> None:
    b.conn.execute(q.MUV_DDL)
    for m in METRICS:
        b.once("B", f"backfill metric {m.id} {m.key}", q.backfill(m))
    b.conn.execute("VACUUM ANALYZE metric_user_values")
    b.conn.execute(q.EXPOSURE_ROLLUPS_DDL)
    b.conn.execute(q.build_exposure_rollups(b.started_at))
    rows = b.conn.execute(
        "SELECT count(*), pg_size_pretty(pg_total_relation_size('metric_user_values'))"
        " FROM metric_user_values"
    ).fetchone()
    print(f"  metric_user_values: {rows[0]:,} rows, {rows[1]}")


def section_b(b: Bench) -> None:
    has_index = b.conn.execute(
        "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_muv_covering'"
    ).fetchone()
    if not has_index:
        b.time(
            "B",
            "10 metrics from metric_user_values (PK / seq scan)",
            q.results_materialised(METRICS),
        )
        b.conn.execute(q.COVERING_INDEX)
        b.conn.execute("VACUUM ANALYZE metric_user_values")
    b.time(
        "B", "10 metrics from metric_user_values (covering index)", q.results_materialised(METRICS)
    )
    b.time(
        "B", "1 metric (p99.9-capped) from metric_user_values", q.results_materialised([BY_ID[8]])
    )
    if not b.conn.execute("SELECT 1 FROM metric_variant_totals LIMIT 1").fetchone():
        b.conn.execute(q.rollup_from_values())
        b.conn.execute("ANALYZE metric_variant_totals")
    linear, capped = q.results_rollup(METRICS)
    b.time(
        "B",
        "exposed users per variant from exposures (index-only scan)",
        "WITH " + q.N_CTE + " SELECT * FROM n",
    )
    b.time(
        "B",
        "exposed users per variant from exposure_day_counts (rollup)",
        "WITH " + q.N_ROLLUP_CTE + " SELECT * FROM n",
    )
    b.time("B", "8 linear metrics from metric_variant_totals", linear)
    b.time("B", "10 metrics: rollups + per-user scan for 2 capped", [linear, capped])


def section_c(b: Bench) -> None:
    m, conv = BY_ID[2], BY_ID[1]
    if not b.conn.execute("SELECT 1 FROM metric_user_daily LIMIT 1").fetchone():
        b.once("C", f"backfill daily rows, metric {m.key}", q.daily_backfill(m, b.started_at))
        b.conn.execute("VACUUM ANALYZE metric_user_daily")
        n = b.conn.execute("SELECT count(*) FROM metric_user_daily").fetchone()[0]
        print(f"  metric_user_daily: {n:,} rows for one metric")
    b.time("C", f"30-day lift, {m.key}, from raw events", q.lift_raw(m, b.started_at, b.ended_at))
    b.time(
        "C", f"30-day lift, {m.key}, from metric_user_daily", q.lift_materialised(m, b.started_at)
    )
    b.time(
        "C",
        f"30-day lift, {conv.key}, from metric_user_values.first_ts",
        q.lift_conversion_first_ts(conv, b.started_at),
    )


def section_d(b: Bench) -> None:
    one, three = [BY_ID[2]], [BY_ID[1], BY_ID[2], BY_ID[8]]
    b.time("D", "breakdown country top20+other, 1 metric, raw", q.breakdown_raw(one, b.ended_at))
    b.time("D", "breakdown, 3 metrics (incl. p99.9 cap), raw", q.breakdown_raw(three, b.ended_at))
    b.time("D", "breakdown, 1 metric, metric_user_values", q.breakdown_materialised(one))
    b.time("D", "breakdown, 3 metrics, metric_user_values", q.breakdown_materialised(three))


# --- the write path -----------------------------------------------------------------------------

INSERT_BATCH = """
INSERT INTO events (id, workspace_id, experiment_id, event_id, user_id, event_type, value,
                    properties, timestamp, received_at)
SELECT %(lo)s + g, 1, NULL, %(tag)s || g, 'u' || ((g * 7919 + %(lo)s) %% %(users)s),
       (ARRAY['page_view','page_view','click','add_to_cart','purchase'])[1 + g %% 5],
       CASE WHEN g %% 5 = 4 THEN 20 + (g %% 97) END,
       jsonb_build_object('currency', (ARRAY['USD','EUR','GBP'])[1 + g %% 3],
                          'device', 'mobile', 'items', 1 + g %% 3),
       %(ts)s, now()
FROM generate_series(0, %(n)s - 1) AS g
ON CONFLICT (workspace_id, event_id) DO NOTHING
"""


def _next_id(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT max(id) + 1 FROM events").fetchone()[0]


def section_fold(b: Bench, batches: int = 5, size: int = 10_000) -> None:
    """Insert a batch of events inside the experiment's window, then fold it into 10 metrics."""
    users = b.conn.execute("SELECT count(*) FROM exposures").fetchone()[0]
    ts = b.params["ended_at"].replace(microsecond=0) - timedelta(hours=1)
    inserts, folds = [], []
    for _ in range(batches):
        lo = _next_id(b.conn)
        args = {"lo": lo, "n": size, "users": users, "ts": ts, "tag": f"fold{lo}-"}
        with b.conn.transaction():
            t0 = time.perf_counter()
            b.conn.execute(INSERT_BATCH, args)
            t1 = time.perf_counter()
            for m in METRICS:
                b.conn.execute(q.fold_batch(m), {**b.params, "lo": lo, "hi": lo + size - 1})
            t2 = time.perf_counter()
        inserts.append(t1 - t0)
        folds.append(t2 - t1)
    b.record("fold", f"insert {size:,} events (no fold)", statistics.median(inserts))
    b.record(
        "fold",
        f"fold those {size:,} into 10 metrics + rollups",
        statistics.median(folds),
        note=f"median of {batches} batches",
    )


def section_ingest(b: Bench, warm: float = 5.0, size: int = 10_000) -> None:
    """Backfill a new metric while another connection inserts 10,000-event batches.

    The batches are stamped after the experiment's end, so they change no result (the fold
    section measures what folding them would cost)."""
    stop = threading.Event()
    done: list[tuple[float, int]] = []
    users = b.conn.execute("SELECT count(*) FROM exposures").fetchone()[0]
    after = b.params["ended_at"] + timedelta(days=2)

    def writer() -> None:
        with psycopg.connect(b.url, autocommit=True) as conn:
            while not stop.is_set():
                lo = _next_id(conn)
                args = {"lo": lo, "n": size, "users": users, "ts": after, "tag": f"ing{lo}-"}
                conn.execute(INSERT_BATCH, args)
                done.append((time.perf_counter(), size))

    def rate(t0: float, t1: float) -> float:
        return sum(n for t, n in done if t0 < t <= t1) / (t1 - t0)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        t0 = time.perf_counter()
        time.sleep(warm)
        t1 = time.perf_counter()
        new = q.Metric(
            11,
            "revenue_eur_14d",
            "sum",
            "purchase",
            where="e.properties->>'currency' = 'EUR'",
            duration=14 * q.DAY,
        )
        b.params["max_id"] = _next_id(b.conn) - 1
        b.once("ingest", "backfill metric 11 while ingesting", q.backfill(new))
        t2 = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    b.record("ingest", "ingest rate alone (events/s, not seconds)", rate(t0, t1))
    b.record("ingest", "ingest rate during backfill (events/s)", rate(t1, t2))
    b.conn.execute("DELETE FROM metric_user_values WHERE metric_id = 11")


SECTIONS: dict[str, Callable[[Bench], None]] = {
    "A": section_a,
    "B": section_b,
    "C": section_c,
    "D": section_d,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--sections", default="floor,A,B,C,D,fold,ingest")
    parser.add_argument("--configs", default="default,tuned")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--explain", type=Path)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    sections = args.sections.split(",")
    if args.explain:
        args.explain.mkdir(parents=True, exist_ok=True)
    b = Bench(args.url, args.runs, args.explain)
    print(f"events: max id {b.max_id:,}; experiment {b.started_at} .. {b.ended_at}")

    if "B" in sections or "C" in sections or "D" in sections:
        exists = b.conn.execute("SELECT to_regclass('metric_user_values')").fetchone()[0]
        if "B" in sections or not exists:
            b.configure("tuned")
            backfill_all(b)
    for config in args.configs.split(","):
        b.configure(config)
        print(
            f"-- config {config}: "
            + ", ".join(
                f"{k}={b.conn.execute(f'SHOW {k}').fetchone()[0]}"
                for k in ("work_mem", "max_parallel_workers_per_gather", "jit", "shared_buffers")
            )
        )
        floor(b)
        for name in ("A", "B", "C", "D"):
            if name in sections:
                SECTIONS[name](b)
        b._run(FLOOR)
        b.floor[config] = min(
            b.floor[config], b.time("floor", "floor again (end of config)", FLOOR)
        )
    b.configure(config)  # the write path runs under the last config
    if "fold" in sections:
        section_fold(b)
    if "ingest" in sections:
        section_ingest(b)

    print("\n| section | what | config | median s | x floor |\n|---|---|---|---:|---:|")
    for r in b.rows:
        ratio = f"{r['floor_ratio']:.2f}" if r["floor_ratio"] else ""
        print(f"| {r['section']} | {r['what']} | {r['config']} | {r['seconds']:.3f} | {ratio} |")
    if args.json:
        args.json.write_text(json.dumps(b.rows, indent=1))


if __name__ == "__main__":
    main()
