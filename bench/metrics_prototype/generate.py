"""Synthetic data for the metric-pipeline prototype (issue 18): one experiment, exposures, events.

Tables mirror ``storage/models/tracking.py`` (same columns and indexes, PostgreSQL DDL written
out here so the prototype runs without migrations), plus a one-row ``proto_experiment`` with the
experiment's start and end. Rows are generated with numpy and loaded with ``COPY``; indexes are
built after the load, then ``VACUUM ANALYZE`` (so index-only scans see an all-visible map).

Shape of the data:

- ``users`` exposed users, uniformly over ``variants`` variants (ids 1..V) of experiment 1,
  ``exposed_at`` uniform over the experiment's 30 days; ``context`` holds ``country`` (40 codes,
  Zipf-like) and ``device`` (mobile 55 %, desktop 35 %, tablet 10 %).
- ``events`` events: 90 % from exposed users (activity per user lognormal, so a heavy tail of
  busy users), 10 % from users never exposed. Six types; ``purchase`` has a lognormal ``value``
  (median ~33, heavy tail; +3 % in variant 2) and ``currency`` USD 60 / EUR 30 / GBP 10 % and
  ``items``; ``add_to_cart`` a currency; all carry ``device``, views and clicks a ``page``.
  Timestamps: 15 % in the 14 days before the user's exposure, the rest after it (exponential,
  mean 6 days), all within [start - 5 d, start + 35 d], so some fall after the experiment's end.
  Rows are stored in timestamp order, as ingestion would roughly store them.

    python -m bench.metrics_prototype.generate --url postgresql://postgres@127.0.0.1/DB \
        [--users 1000000] [--events 10000000] [--variants 3]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 30
DAY = 86_400.0
CHUNK = 500_000

EVENT_TYPES = ["page_view", "click", "search", "add_to_cart", "purchase", "signup"]
EVENT_P = [0.45, 0.24, 0.08, 0.12, 0.07, 0.04]
CURRENCIES = ["USD", "EUR", "GBP"]
CURRENCY_P = [0.6, 0.3, 0.1]
DEVICES = ["mobile", "desktop", "tablet"]
DEVICE_P = [0.55, 0.35, 0.10]
PAGES = ["/", "/search", "/product", "/cart", "/checkout", "/account", "/help", "/blog"]
PAGE_P = [0.25, 0.15, 0.30, 0.10, 0.05, 0.05, 0.04, 0.06]
COUNTRIES = [
    "US", "GB", "DE", "FR", "IN", "BR", "CA", "AU", "ES", "IT", "NL", "MX", "JP", "PL", "SE",
    "BE", "CH", "AT", "IE", "PT", "DK", "NO", "FI", "NZ", "SG", "ZA", "AR", "CL", "CO", "TR",
    "KR", "IL", "CZ", "RO", "HU", "GR", "PH", "ID", "TH", "VN",
]  # fmt: skip

DDL = """
DROP TABLE IF EXISTS events, exposures, proto_experiment CASCADE;
CREATE TABLE proto_experiment (
    id integer PRIMARY KEY, workspace_id integer NOT NULL,
    started_at timestamptz NOT NULL, ended_at timestamptz NOT NULL
);
CREATE TABLE exposures (
    id bigint PRIMARY KEY,
    workspace_id integer NOT NULL, experiment_id integer NOT NULL, variant_id integer NOT NULL,
    user_id varchar(255) NOT NULL, bucket_version integer NOT NULL,
    is_override boolean NOT NULL, context jsonb NOT NULL, exposed_at timestamptz NOT NULL,
    disagrees boolean NOT NULL DEFAULT false
);
CREATE TABLE events (
    id bigint PRIMARY KEY,
    workspace_id integer NOT NULL, experiment_id integer, event_id varchar(100) NOT NULL,
    user_id varchar(255) NOT NULL, event_type varchar(200) NOT NULL,
    value double precision, properties jsonb NOT NULL,
    timestamp timestamptz NOT NULL, received_at timestamptz NOT NULL
);
"""

# The indexes of tracking.py, built after the load.
INDEXES = """
ALTER TABLE exposures ADD UNIQUE (experiment_id, bucket_version, user_id);
CREATE INDEX ON exposures (experiment_id, bucket_version, variant_id, is_override);
CREATE INDEX ON exposures (workspace_id, user_id);
CREATE INDEX ix_exposures_disagreements ON exposures (experiment_id, bucket_version, variant_id)
    WHERE disagrees;
ALTER TABLE events ADD UNIQUE (workspace_id, event_id);
CREATE INDEX ON events (workspace_id, user_id);
CREATE INDEX ON events (timestamp);
"""


def _stamp(seconds: np.ndarray) -> list[str]:
    """Epoch seconds as text timestamps PostgreSQL's COPY reads (UTC, microseconds)."""
    micros = (seconds * 1e6).astype("int64").astype("datetime64[us]")
    return [s + "+00" for s in np.datetime_as_string(micros).tolist()]


def _copy(conn: psycopg.Connection, table: str, columns: str, lines: list[str]) -> None:
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write("".join(lines))


def exposures(rng: np.random.Generator, users: int, variants: int) -> dict[str, np.ndarray]:
    zipf = 1.0 / np.arange(1, len(COUNTRIES) + 1) ** 1.1
    return {
        "variant": rng.integers(1, variants + 1, users),
        "exposed": START.timestamp() + rng.uniform(0, DAYS * DAY, users),
        "country": rng.choice(len(COUNTRIES), users, p=zipf / zipf.sum()),
        "device": rng.choice(len(DEVICES), users, p=DEVICE_P),
    }


def load_exposures(conn: psycopg.Connection, x: dict[str, np.ndarray]) -> None:
    users = len(x["variant"])
    for lo in range(0, users, CHUNK):
        hi = min(lo + CHUNK, users)
        stamps = _stamp(x["exposed"][lo:hi])
        lines = [
            f"{i + 1}\t1\t1\t{v}\tu{i}\t0\tf\t"
            f'{{"country": "{COUNTRIES[c]}", "device": "{DEVICES[d]}"}}\t{t}\n'
            for i, v, c, d, t in zip(
                range(lo, hi),
                x["variant"][lo:hi].tolist(),
                x["country"][lo:hi].tolist(),
                x["device"][lo:hi].tolist(),
                stamps,
                strict=True,
            )
        ]
        _copy(
            conn,
            "exposures",
            "id, workspace_id, experiment_id, variant_id, user_id, bucket_version, is_override,"
            " context, exposed_at",
            lines,
        )


def events(rng: np.random.Generator, x: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    users = len(x["variant"])
    exposed_n = int(n * 0.9)
    activity = rng.lognormal(0.0, 1.0, users)
    user = np.concatenate(
        [
            rng.choice(users, exposed_n, p=activity / activity.sum()),
            users + rng.integers(0, max(users // 3, 1), n - exposed_n),  # never exposed
        ]
    )
    exposed = user < users
    ux = np.where(exposed, user, 0)
    before = rng.random(n) < 0.15
    offset = np.where(before, -rng.uniform(0, 14 * DAY, n), rng.exponential(6 * DAY, n))
    ts = np.where(
        exposed,
        x["exposed"][ux] + offset,
        START.timestamp() + rng.uniform(-5 * DAY, 35 * DAY, n),
    )
    lo, hi = START.timestamp() - 5 * DAY, START.timestamp() + 35 * DAY
    ts = np.where(ts > hi, hi - rng.uniform(0, 5 * DAY, n), ts)
    ts = np.where(ts < lo, lo + rng.uniform(0, 5 * DAY, n), ts)
    kind = rng.choice(len(EVENT_TYPES), n, p=EVENT_P)
    lift = np.where(exposed & (x["variant"][ux] == 2), 1.03, 1.0)
    order = np.argsort(ts, kind="stable")
    return {
        "user": user[order],
        "ts": ts[order],
        "kind": kind[order],
        "value": (rng.lognormal(3.5, 1.0, n) * lift)[order],
        "currency": rng.choice(3, n, p=CURRENCY_P)[order],
        "device": np.where(exposed, x["device"][ux], rng.choice(3, n, p=DEVICE_P))[order],
        "page": rng.choice(len(PAGES), n, p=PAGE_P)[order],
        "items": (1 + rng.poisson(0.8, n))[order],
    }


def _properties(kind: int, currency: int, device: int, page: int, items: int) -> str:
    d = DEVICES[device]
    match EVENT_TYPES[kind]:
        case "page_view" | "click":
            return f'{{"page": "{PAGES[page]}", "device": "{d}"}}'
        case "add_to_cart":
            return f'{{"page": "/product", "device": "{d}", "currency": "{CURRENCIES[currency]}"}}'
        case "purchase":
            return f'{{"items": {items}, "device": "{d}", "currency": "{CURRENCIES[currency]}"}}'
        case _:
            return f'{{"device": "{d}"}}'


def load_events(conn: psycopg.Connection, e: dict[str, np.ndarray]) -> None:
    n = len(e["user"])
    purchase = EVENT_TYPES.index("purchase")
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        stamps = _stamp(e["ts"][lo:hi])
        received = _stamp(e["ts"][lo:hi] + 2.0)
        lines = [
            f"{i + 1}\t1\t\\N\te{i}\tu{u}\t{EVENT_TYPES[k]}\t"
            f"{round(v, 2) if k == purchase else chr(92) + 'N'}\t"
            f"{_properties(k, c, d, p, it)}\t{t}\t{r}\n"
            for i, u, k, v, c, d, p, it, t, r in zip(
                range(lo, hi),
                e["user"][lo:hi].tolist(),
                e["kind"][lo:hi].tolist(),
                e["value"][lo:hi].tolist(),
                e["currency"][lo:hi].tolist(),
                e["device"][lo:hi].tolist(),
                e["page"][lo:hi].tolist(),
                e["items"][lo:hi].tolist(),
                stamps,
                received,
                strict=True,
            )
        ]
        _copy(
            conn,
            "events",
            "id, workspace_id, experiment_id, event_id, user_id, event_type, value, properties,"
            " timestamp, received_at",
            lines,
        )


def generate(url: str, users: int, n_events: int, variants: int, seed: int = 18) -> None:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()

    def step(what: str) -> None:
        print(f"{time.perf_counter() - t0:7.1f} s  {what}", flush=True)

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DDL)
        conn.execute(
            "INSERT INTO proto_experiment VALUES (1, 1, %s, %s)",
            (START, START + timedelta(days=DAYS)),
        )
        x = exposures(rng, users, variants)
        load_exposures(conn, x)
        step(f"{users:,} exposures")
        e = events(rng, x, n_events)
        step(f"{n_events:,} events generated")
        load_events(conn, e)
        step("events copied")
        for statement in filter(str.strip, INDEXES.split(";")):
            conn.execute(statement)
        step("indexes")
        conn.execute("VACUUM ANALYZE exposures")
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE proto_experiment")
        step("vacuum analyze")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True, help="a scratch PostgreSQL database (psycopg)")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--variants", type=int, default=3)
    args = parser.parse_args(argv)
    generate(args.url, args.users, args.events, args.variants)


if __name__ == "__main__":
    main()
