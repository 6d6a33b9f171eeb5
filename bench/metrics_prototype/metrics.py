"""Metric definitions (issue 18) and the SQL each design runs for them.

A metric is an event type, an optional property filter, a value (``events.value`` or a numeric
property), a kind (conversion / sum / count / ratio of two metrics), a conversion window (delay
and duration after the user's exposure), a cap (absolute, or a percentile over the experiment's
exposed users) and a good direction. Everything is compiled to SQL fragments over ``events e``
joined to ``exposures x``; the prototype trusts its own definitions (a real implementation would
build these from validated parts, never from user text).

Every design yields the same sufficient statistics per (metric, variant): ``n`` exposed users
(zeros included: users without a row contribute 0 to every sum), ``s1 = Σx``, ``s2 = Σx²``; a
ratio adds ``d1 = Σden``, ``d2 = Σden²``, ``sx = Σnum·den``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

Kind = Literal["conversion", "sum", "count", "ratio"]

EXPERIMENT = 1
#: The exposures an analysis counts (randomised ones of the experiment's current bucketing).
EXPOSED = "x.experiment_id = 1 AND x.bucket_version = 0 AND NOT x.is_override"
#: How events find their exposure, as ``events.totals`` does it: same workspace and user,
#: untagged or tagged with this experiment.
JOIN = (
    "e.workspace_id = x.workspace_id AND e.user_id = x.user_id"
    " AND (e.experiment_id IS NULL OR e.experiment_id = x.experiment_id)"
)


@dataclass(frozen=True)
class Metric:
    id: int
    key: str
    kind: Kind
    event_type: str = ""
    where: str | None = None  # SQL over ``e``, e.g. ``e.properties->>'currency' = 'USD'``
    value: str = "e.value"  # SQL over ``e``: the numeric value a ``sum`` adds
    delay: timedelta = timedelta(0)
    duration: timedelta | None = None  # None: until the experiment's end
    cap: float | None = None  # absolute per-user cap
    cap_percentile: float | None = None  # e.g. 0.999, over all exposed users (zeros included)
    numerator: Metric | None = None
    denominator: Metric | None = None
    higher_is_better: bool = True
    event_types: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        types = (
            (self.numerator.event_types + self.denominator.event_types)
            if self.numerator and self.denominator
            else (self.event_type,)
        )
        object.__setattr__(self, "event_types", tuple(dict.fromkeys(types)))

    # --- per-event condition and per-user aggregate -------------------------------------------

    def condition(self) -> str:
        """Whether an event joined to its exposure counts for this (non-ratio) metric."""
        parts = [f"e.event_type = '{self.event_type}'"]
        if self.where:
            parts.append(self.where)
        if self.delay:
            parts.append(f"e.timestamp >= x.exposed_at + interval '{_secs(self.delay)} s'")
        if self.duration is not None:
            end = _secs(self.delay + self.duration)
            parts.append(f"e.timestamp < x.exposed_at + interval '{end} s'")
        return " AND ".join(parts)

    def user_aggregate(self) -> str:
        """The per-user value over that user's joined events (a GROUP BY exposure aggregate)."""
        c = self.condition()
        match self.kind:
            case "conversion":
                return f"coalesce(max(1) FILTER (WHERE {c}), 0)"
            case "count":
                return f"count(*) FILTER (WHERE {c})"
            case "sum":
                return f"coalesce(sum({self.value}) FILTER (WHERE {c}), 0)"
        raise ValueError(self.kind)

    def combine(self, old: str, new: str) -> str:
        """Fold an increment into a stored per-user value (the write path's upsert)."""
        return f"greatest({old}, {new})" if self.kind == "conversion" else f"{old} + {new}"


def _secs(delta: timedelta) -> int:
    return int(delta.total_seconds())


DAY = timedelta(days=1)
_revenue = Metric(2, "revenue", "sum", "purchase")
_purchases = Metric(4, "purchases", "count", "purchase")

#: The ten metrics of a results page: filtered (3, 10), windowed (6, 7), capped (5, 8), ratio (9).
METRICS: list[Metric] = [
    Metric(1, "purchase_conversion", "conversion", "purchase"),
    _revenue,
    Metric(3, "revenue_usd", "sum", "purchase", where="e.properties->>'currency' = 'USD'"),
    _purchases,
    Metric(5, "page_views_capped_100", "count", "page_view", cap=100),
    Metric(6, "purchase_within_7d", "conversion", "purchase", duration=7 * DAY),
    Metric(7, "add_to_cart_day_1_to_14", "count", "add_to_cart", delay=DAY, duration=13 * DAY),
    Metric(8, "revenue_capped_p999", "sum", "purchase", cap_percentile=0.999),
    Metric(9, "average_order_value", "ratio", numerator=_revenue, denominator=_purchases),
    Metric(
        10,
        "items_mobile",
        "sum",
        "purchase",
        where="e.properties->>'device' = 'mobile'",
        value="(e.properties->>'items')::float8",
    ),
]
BY_ID = {m.id: m for m in METRICS}


# --- design A: read time, from raw events -------------------------------------------------------


def _user_columns(metrics: list[Metric]) -> list[str]:
    """``SELECT`` items of the per-user CTE: ``m{id}`` (or ``m{id}_num`` / ``m{id}_den``)."""
    cols = []
    for m in metrics:
        if m.kind == "ratio":
            assert m.numerator
            assert m.denominator
            cols.append(f"{m.numerator.user_aggregate()} AS m{m.id}_num")
            cols.append(f"{m.denominator.user_aggregate()} AS m{m.id}_den")
        else:
            cols.append(f"{m.user_aggregate()} AS m{m.id}")
    return cols


def _capped(m: Metric, column: str) -> str:
    if m.cap is not None:
        return f"least({column}, {m.cap})"
    if m.cap_percentile is not None:
        return f"least({column}, (SELECT cap FROM cap{m.id}))"
    return column


def percentile_cap_cte(m: Metric, source: str, column: str, where: str = "true") -> str:
    """The cap at ``m.cap_percentile`` over *all* exposed users, from the nonzero values only.

    With ``n`` exposed users of which ``k`` have a nonzero value (all values ≥ 0), the
    ``p``-quantile of the n values (zeros first) is the ``1 - (1 - p)·n/k`` quantile of the k
    nonzero ones: no need to materialise a million zeros. (If that fraction is ≤ 0 the cap is 0.)
    """
    nonzero = f"FROM {source} WHERE {column} > 0 AND {where}"
    # MATERIALIZED, and the fraction computed once: inlined, PostgreSQL re-ran both scans for
    # every reference (each use of the capped value in the sums).
    return (
        f"cap{m.id} AS MATERIALIZED (SELECT CASE WHEN f <= 0 THEN 0 ELSE"
        f" (SELECT percentile_disc(f) WITHIN GROUP (ORDER BY {column}) {nonzero}) END AS cap"
        f" FROM (SELECT 1 - (1 - {m.cap_percentile}) * (SELECT sum(n) FROM n)"
        f" / greatest(count(*), 1) AS f {nonzero}) f)"
    )


def _variant_sums(metrics: list[Metric]) -> list[str]:
    out = []
    for m in metrics:
        if m.kind == "ratio":
            num, den = f"m{m.id}_num", f"m{m.id}_den"
            out += [
                f"sum({num}) AS m{m.id}_s1",
                f"sum({num}::float8 * {num}) AS m{m.id}_s2",
                f"sum({den}) AS m{m.id}_d1",
                f"sum({den}::float8 * {den}) AS m{m.id}_d2",
                f"sum({num}::float8 * {den}) AS m{m.id}_sx",
            ]
        else:
            x = _capped(m, f"m{m.id}")
            out += [f"sum({x}) AS m{m.id}_s1", f"sum(({x})::float8 * {x}) AS m{m.id}_s2"]
    return out


#: Exposed users per variant (an index-only scan of ~1M index entries, ~0.2 s). MATERIALIZED:
#: referenced once, PostgreSQL would inline it and may re-run it in a nested loop.
N_CTE = (
    "n AS MATERIALIZED (SELECT x.variant_id, count(*) AS n FROM exposures x WHERE "
    + EXPOSED
    + " GROUP BY x.variant_id)"
)


def results_raw(metrics: list[Metric], ended_at: str) -> str:
    """Design A: one statement, one pass over the joined events, FILTER aggregates per metric."""
    types = ", ".join(f"'{t}'" for t in dict.fromkeys(t for m in metrics for t in m.event_types))
    ctes = [
        N_CTE,
        f"u AS (SELECT x.variant_id, {', '.join(_user_columns(metrics))}"
        f" FROM exposures x JOIN events e ON {JOIN}"
        f" WHERE {EXPOSED} AND e.event_type IN ({types})"
        f" AND e.timestamp >= x.exposed_at AND e.timestamp < '{ended_at}'"
        f" GROUP BY x.id, x.variant_id)",
    ]
    ctes += [percentile_cap_cte(m, "u", f"m{m.id}") for m in metrics if m.cap_percentile]
    return (
        f"WITH {', '.join(ctes)} SELECT n.variant_id, n.n, s.* FROM n LEFT JOIN"
        f" (SELECT variant_id AS v, {', '.join(_variant_sums(metrics))} FROM u GROUP BY variant_id)"
        " s ON s.v = n.variant_id ORDER BY n.variant_id"
    )


# --- design B: materialised per-(metric, user) values -------------------------------------------

MUV_DDL = """
DROP TABLE IF EXISTS metric_user_values, metric_variant_totals, metric_user_daily;
CREATE TABLE metric_user_values (
    metric_id integer NOT NULL, experiment_id integer NOT NULL, exposure_id bigint NOT NULL,
    variant_id integer NOT NULL,
    value double precision NOT NULL,        -- uncapped; a ratio's numerator
    denominator double precision,           -- a ratio's denominator
    first_ts timestamptz NOT NULL,          -- first counted event (conversion day, lift over time)
    PRIMARY KEY (metric_id, experiment_id, exposure_id)
);
-- Per (metric, exposure, day of the experiment) increments: lift over time.
CREATE TABLE metric_user_daily (
    metric_id integer NOT NULL, experiment_id integer NOT NULL, exposure_id bigint NOT NULL,
    day smallint NOT NULL, variant_id integer NOT NULL,
    value double precision NOT NULL, denominator double precision,
    PRIMARY KEY (metric_id, experiment_id, exposure_id, day)
);
-- Per-variant rollups of the uncapped values (linear metrics' results in O(variants)).
CREATE TABLE metric_variant_totals (
    metric_id integer NOT NULL, experiment_id integer NOT NULL, variant_id integer NOT NULL,
    users bigint NOT NULL DEFAULT 0,       -- users with a row
    s1 double precision NOT NULL DEFAULT 0, s2 double precision NOT NULL DEFAULT 0,
    d1 double precision NOT NULL DEFAULT 0, d2 double precision NOT NULL DEFAULT 0,
    sx double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (metric_id, experiment_id, variant_id)
)
"""

COVERING_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_muv_covering ON metric_user_values"
    " (experiment_id, metric_id, variant_id) INCLUDE (value, denominator)"
)


def _increments(m: Metric, event_range: str = "true") -> str:
    """Per-user value of ``m`` over the events matching ``event_range`` (all, or a batch)."""
    if m.kind == "ratio":
        assert m.numerator
        assert m.denominator
        value, den = m.numerator.user_aggregate(), m.denominator.user_aggregate()
        cond = f"(({m.numerator.condition()}) OR ({m.denominator.condition()}))"
    else:
        value, den, cond = m.user_aggregate(), "NULL::float8", m.condition()
    return (
        f"SELECT {m.id} AS metric_id, x.experiment_id, x.id AS exposure_id, x.variant_id,"
        f" {value} AS value, {den} AS denominator, min(e.timestamp) AS first_ts"
        f" FROM exposures x JOIN events e ON {JOIN}"
        f" WHERE {EXPOSED} AND ({event_range}) AND {cond}"
        f" AND e.timestamp >= x.exposed_at AND e.timestamp < %(ended_at)s"
        f" GROUP BY x.experiment_id, x.id, x.variant_id"
    )


def backfill(m: Metric) -> str:
    """Design B: define a metric on existing data (``%(ended_at)s``, ``%(max_id)s`` bound).

    Counts the events with ``id <= max_id``: the write path folds those after it once the
    metric is live (a real one must make sure no writer straddles that mark, e.g. by taking the
    exposure writers' exclusive per-user advisory locks' table-wide equivalent for a moment).
    """
    return (
        "INSERT INTO metric_user_values"
        " (metric_id, experiment_id, exposure_id, variant_id, value, denominator, first_ts) "
        + _increments(m, "e.id <= %(max_id)s")
        + " ON CONFLICT (metric_id, experiment_id, exposure_id) DO UPDATE SET"
        f" value = {m.combine('metric_user_values.value', 'excluded.value')},"
        " denominator = metric_user_values.denominator + excluded.denominator,"
        " first_ts = least(metric_user_values.first_ts, excluded.first_ts)"
    )


def fold_batch(m: Metric) -> str:
    """Design B's write path: fold events ``%(lo)s..%(hi)s`` into ``m``'s values and rollups.

    Reads each touched user's old value, upserts the new one and adds the differences of
    ``x`` and ``x²`` to the variant's totals (safe under the per-user advisory locks the event
    writers already take).
    """
    nv = m.combine("coalesce(o.value, 0)", "i.value")
    return f"""
WITH i AS ({_increments(m, "e.id BETWEEN %(lo)s AND %(hi)s")}),
d AS (
    SELECT i.*, o.exposure_id IS NULL AS is_new, coalesce(o.value, 0) AS ov,
           {nv} AS nv, coalesce(o.denominator, 0) AS od,
           coalesce(o.denominator, 0) + coalesce(i.denominator, 0) AS nd
    FROM i LEFT JOIN metric_user_values o
      ON o.metric_id = i.metric_id AND o.experiment_id = i.experiment_id
     AND o.exposure_id = i.exposure_id
),
up AS (
    INSERT INTO metric_user_values
        (metric_id, experiment_id, exposure_id, variant_id, value, denominator, first_ts)
    SELECT metric_id, experiment_id, exposure_id, variant_id, nv,
           CASE WHEN denominator IS NULL THEN NULL ELSE nd END, first_ts FROM d
    ON CONFLICT (metric_id, experiment_id, exposure_id) DO UPDATE SET
        value = excluded.value, denominator = excluded.denominator,
        first_ts = least(metric_user_values.first_ts, excluded.first_ts)
)
INSERT INTO metric_variant_totals AS t
    (metric_id, experiment_id, variant_id, users, s1, s2, d1, d2, sx)
SELECT metric_id, experiment_id, variant_id, count(*) FILTER (WHERE is_new),
       sum(nv - ov), sum(nv * nv - ov * ov), sum(nd - od), sum(nd * nd - od * od),
       sum(nv * nd - ov * od)
FROM d GROUP BY metric_id, experiment_id, variant_id
ON CONFLICT (metric_id, experiment_id, variant_id) DO UPDATE SET
    users = t.users + excluded.users, s1 = t.s1 + excluded.s1, s2 = t.s2 + excluded.s2,
    d1 = t.d1 + excluded.d1, d2 = t.d2 + excluded.d2, sx = t.sx + excluded.sx
"""


def rollup_from_values() -> str:
    """Build ``metric_variant_totals`` from the per-user table (what the fold keeps up to date)."""
    return (
        "INSERT INTO metric_variant_totals"
        " SELECT metric_id, experiment_id, variant_id, count(*), sum(value), sum(value * value),"
        " coalesce(sum(denominator), 0), coalesce(sum(denominator * denominator), 0),"
        " coalesce(sum(value * denominator), 0)"
        " FROM metric_user_values GROUP BY metric_id, experiment_id, variant_id"
    )


def _muv_value(m: Metric) -> str:
    return _capped(m, "value")


#: The same from the write-time rollup of exposure counts (O(variants x days)).
N_ROLLUP_CTE = (
    "n AS MATERIALIZED (SELECT variant_id, sum(n) AS n FROM exposure_day_counts"
    " WHERE experiment_id = 1 GROUP BY variant_id)"
)


def results_materialised(metrics: list[Metric]) -> str:
    """Design B: all metrics' statistics from one scan of the per-(metric, user) table."""
    ids = ", ".join(str(m.id) for m in metrics)
    caps = [
        percentile_cap_cte(m, "metric_user_values", "value", f"metric_id = {m.id}")
        for m in metrics
        if m.cap_percentile
    ]
    x = "CASE metric_id " + " ".join(f"WHEN {m.id} THEN {_muv_value(m)}" for m in metrics)
    x += " END"
    return (
        f"WITH {', '.join([N_ROLLUP_CTE, *caps])},"
        f" v AS (SELECT metric_id, variant_id, {x} AS x, denominator AS d"
        f" FROM metric_user_values WHERE experiment_id = 1 AND metric_id IN ({ids}))"
        # Aggregate first, join the 3 rows of n after: joined first, the 3M-row aggregate ran
        # serially in the leader (the CTE scan is parallel-restricted).
        " SELECT s.*, n.n FROM (SELECT metric_id, variant_id, sum(x) AS s1, sum(x * x) AS s2,"
        " sum(d) AS d1, sum(d * d) AS d2, sum(x * d) AS sx"
        " FROM v GROUP BY metric_id, variant_id) s JOIN n USING (variant_id)"
    )


def results_rollup(metrics: list[Metric]) -> tuple[str, str | None]:
    """Design B + rollups: O(variants) for uncapped/absolutely capped-free metrics; a per-user
    scan of its own rows only for metrics with a cap (a cap is not linear)."""
    linear = [m for m in metrics if m.cap is None and m.cap_percentile is None]
    capped = [m for m in metrics if m not in linear]
    ids = ", ".join(str(m.id) for m in linear)
    sql = (
        f"WITH {N_ROLLUP_CTE} SELECT t.metric_id, t.variant_id, n.n, t.s1, t.s2, t.d1, t.d2, t.sx"
        " FROM metric_variant_totals t JOIN n USING (variant_id)"
        f" WHERE t.experiment_id = 1 AND t.metric_id IN ({ids})"
    )
    return sql, (results_materialised(capped) if capped else None)


# --- C: lift over time ---------------------------------------------------------------------------


def _day(ts: str, started_at: str) -> str:
    return f"floor(extract(epoch FROM {ts} - '{started_at}'::timestamptz) / 86400)::int"


def daily_backfill(m: Metric, started_at: str) -> str:
    """Per (metric, exposure, experiment day) increments (``%(ended_at)s`` bound)."""
    return (
        "INSERT INTO metric_user_daily"
        " (metric_id, experiment_id, exposure_id, day, variant_id, value, denominator)"
        f" SELECT {m.id}, x.experiment_id, x.id, {_day('e.timestamp', started_at)},"
        f" x.variant_id, {m.user_aggregate()}, NULL"
        f" FROM exposures x JOIN events e ON {JOIN}"
        f" WHERE {EXPOSED} AND {m.condition()}"
        " AND e.timestamp >= x.exposed_at AND e.timestamp < %(ended_at)s"
        " GROUP BY 1, 2, 3, 4, 5"
    )


def exposures_per_day(started_at: str) -> str:
    return (
        f"SELECT x.variant_id, {_day('x.exposed_at', started_at)} AS day, count(*) AS n"
        f" FROM exposures x WHERE {EXPOSED} GROUP BY 1, 2"
    )


#: Write-time rollups of exposure counts (each exposure adds 1 to its variant's day and to each
#: breakdown attribute's value): the denominators of lift over time and of breakdowns.
EXPOSURE_ROLLUPS_DDL = """
DROP TABLE IF EXISTS exposure_day_counts, exposure_attribute_counts;
CREATE TABLE exposure_day_counts (
    experiment_id integer, variant_id integer, day smallint, n bigint NOT NULL,
    PRIMARY KEY (experiment_id, variant_id, day)
);
CREATE TABLE exposure_attribute_counts (
    experiment_id integer, attribute text, value text, variant_id integer, n bigint NOT NULL,
    PRIMARY KEY (experiment_id, attribute, value, variant_id)
);
"""


def build_exposure_rollups(started_at: str, attr: str = "country") -> str:
    return (
        "INSERT INTO exposure_day_counts SELECT 1, variant_id, day, n FROM ("
        + exposures_per_day(started_at)
        + ") d; INSERT INTO exposure_attribute_counts"
        f" SELECT 1, '{attr}', coalesce(x.context->>'{attr}', ''), x.variant_id, count(*)"
        f" FROM exposures x WHERE {EXPOSED} GROUP BY 3, 4;"
        " ANALYZE exposure_day_counts; ANALYZE exposure_attribute_counts"
    )


def _lift_tail(daily: str, started_at: str, days: int, ne: str | None = None) -> str:
    """Cumulative n, Σx and Σx² per (variant, day) from per-(user, day) increments ``inc``.

    A user's cumulative value only changes on days with an increment, so Σx²(day) is the running
    sum of each user's ``cum² - (cum - inc)²`` on those days: no per-user row per day.
    """
    return f"""
WITH d AS ({daily}),
c AS (SELECT variant_id, day, inc,
             sum(inc) OVER (PARTITION BY exposure_id ORDER BY day) AS cum FROM d),
v AS (SELECT variant_id, day, sum(inc) AS s1, sum(cum * cum - (cum - inc) * (cum - inc)) AS s2
      FROM c GROUP BY variant_id, day),
ne AS ({ne or exposures_per_day(started_at)}),
g AS (SELECT variant_id, day FROM (SELECT DISTINCT variant_id FROM ne) vs,
      generate_series(0, {days - 1}) AS day)
SELECT g.variant_id, g.day,
       sum(coalesce(ne.n, 0)) OVER w AS n, sum(coalesce(v.s1, 0)) OVER w AS s1,
       sum(coalesce(v.s2, 0)) OVER w AS s2
FROM g LEFT JOIN ne USING (variant_id, day) LEFT JOIN v USING (variant_id, day)
WINDOW w AS (PARTITION BY g.variant_id ORDER BY g.day)
ORDER BY 1, 2
"""


EXPOSURES_PER_DAY_ROLLUP = (
    "SELECT variant_id, day, n FROM exposure_day_counts WHERE experiment_id = 1"
)


def lift_raw(m: Metric, started_at: str, ended_at: str, days: int = 30) -> str:
    daily = (
        f"SELECT x.id AS exposure_id, x.variant_id, {_day('e.timestamp', started_at)} AS day,"
        f" {m.user_aggregate()}::float8 AS inc FROM exposures x JOIN events e ON {JOIN}"
        f" WHERE {EXPOSED} AND {m.condition()}"
        f" AND e.timestamp >= x.exposed_at AND e.timestamp < '{ended_at}' GROUP BY 1, 2, 3"
    )
    return _lift_tail(daily, started_at, days)


def lift_materialised(m: Metric, started_at: str, days: int = 30) -> str:
    daily = (
        "SELECT exposure_id, variant_id, day, value AS inc FROM metric_user_daily"
        f" WHERE metric_id = {m.id} AND experiment_id = 1"
    )
    return _lift_tail(daily, started_at, days, EXPOSURES_PER_DAY_ROLLUP)


def lift_conversion_first_ts(m: Metric, started_at: str, days: int = 30) -> str:
    """A conversion's lift over time needs no daily table: the day of its first event."""
    daily = (
        f"SELECT exposure_id, variant_id, {_day('first_ts', started_at)} AS day, 1.0 AS inc"
        f" FROM metric_user_values WHERE metric_id = {m.id} AND experiment_id = 1"
    )
    return _lift_tail(daily, started_at, days, EXPOSURES_PER_DAY_ROLLUP)


# --- D: breakdown by an exposure attribute (top 20 + other) -------------------------------------

_TOP = (
    "top AS (SELECT x.context->>'{attr}' AS b FROM exposures x WHERE "
    + EXPOSED
    + " GROUP BY 1 ORDER BY count(*) DESC LIMIT {k}),"
    " nb AS (SELECT x.variant_id, coalesce(top.b, 'other') AS bucket, count(*) AS n"
    " FROM exposures x LEFT JOIN top ON top.b = x.context->>'{attr}' WHERE "
    + EXPOSED
    + " GROUP BY 1, 2)"
)


def breakdown_raw(metrics: list[Metric], ended_at: str, attr: str = "country", k: int = 20) -> str:
    types = ", ".join(f"'{t}'" for t in dict.fromkeys(t for m in metrics for t in m.event_types))
    return (
        f"WITH {_TOP.format(attr=attr, k=k)}, n AS (SELECT sum(n) AS n FROM nb),"
        f" u AS (SELECT x.variant_id, coalesce(top.b, 'other') AS bucket,"
        f" {', '.join(_user_columns(metrics))}"
        f" FROM exposures x JOIN events e ON {JOIN} LEFT JOIN top ON top.b = x.context->>'{attr}'"
        f" WHERE {EXPOSED} AND e.event_type IN ({types})"
        f" AND e.timestamp >= x.exposed_at AND e.timestamp < '{ended_at}'"
        f" GROUP BY x.id, x.variant_id, 2)"
        + "".join(
            f", {percentile_cap_cte(m, 'u', f'm{m.id}')}" for m in metrics if m.cap_percentile
        )
        + f" SELECT nb.variant_id, nb.bucket, nb.n, s.* FROM nb LEFT JOIN"
        f" (SELECT variant_id AS v, bucket AS b, {', '.join(_variant_sums(metrics))}"
        " FROM u GROUP BY variant_id, bucket) s ON s.v = nb.variant_id AND s.b = nb.bucket"
    )


_TOP_ROLLUP = (
    "top AS (SELECT value AS b FROM exposure_attribute_counts"
    " WHERE experiment_id = 1 AND attribute = '{attr}' GROUP BY 1 ORDER BY sum(n) DESC LIMIT {k}),"
    " nb AS MATERIALIZED (SELECT c.variant_id, coalesce(top.b, 'other') AS bucket, sum(c.n) AS n"
    " FROM exposure_attribute_counts c LEFT JOIN top ON top.b = c.value"
    " WHERE c.experiment_id = 1 AND c.attribute = '{attr}' GROUP BY 1, 2)"
)


def breakdown_materialised(metrics: list[Metric], attr: str = "country", k: int = 20) -> str:
    ids = ", ".join(str(m.id) for m in metrics)
    caps = [
        percentile_cap_cte(m, "metric_user_values", "value", f"metric_id = {m.id}")
        for m in metrics
        if m.cap_percentile
    ]
    x = "CASE m.metric_id " + " ".join(f"WHEN {m.id} THEN {_muv_value(m)}" for m in metrics)
    x += " END"
    return (
        f"WITH {_TOP_ROLLUP.format(attr=attr, k=k)}, n AS (SELECT sum(n) AS n FROM nb)"
        + "".join(f", {c}" for c in caps)
        + f", v AS (SELECT m.metric_id, m.variant_id, coalesce(top.b, 'other') AS bucket,"
        f" {x} AS x, m.denominator AS d FROM metric_user_values m"
        " JOIN exposures x ON x.id = m.exposure_id"
        " LEFT JOIN top ON top.b = x.context->>'" + attr + "'"
        f" WHERE m.experiment_id = 1 AND m.metric_id IN ({ids}))"
        " SELECT s.*, nb.n FROM (SELECT metric_id, variant_id, bucket, sum(x) AS s1,"
        " sum(x * x) AS s2, sum(d) AS d1, sum(d * d) AS d2, sum(x * d) AS sx FROM v"
        " GROUP BY 1, 2, 3) s JOIN nb ON nb.variant_id = s.variant_id AND nb.bucket = s.bucket"
    )
