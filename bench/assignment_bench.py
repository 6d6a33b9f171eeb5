"""In-process assignment throughput: Splitlab's ``assign`` vs the ``growthbook`` SDK's own ``run``.

Both evaluate the same experiment (three variations, uneven weights, 90 % coverage, hash version 2)
for the same user ids; the results are first checked to agree on every id. Each run times both
sides back to back and yields a ratio; the figures printed are medians over the runs.

    python -m bench.assignment_bench [--ids 20000] [--runs 5] [--id-kind seq|uuid]

The SDK is measured two ways: a fresh ``GrowthBook(attributes=...)`` per user, as an application
evaluating one request would, and one instance whose attributes are swapped per user (its fastest
use). The headline ratio is against the fresh instance; both are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable, Sequence

from growthbook import Experiment, GrowthBook

from splitlab.assignment.hashing import assign

KEY = "checkout-redesign"
WEIGHTS = (0.2, 0.3, 0.5)
COVERAGE = 0.9
HASH_VERSION = 2


def _experiment() -> Experiment:
    return Experiment(
        key=KEY,
        variations=[0, 1, 2],
        weights=list(WEIGHTS),
        coverage=COVERAGE,
        hashVersion=HASH_VERSION,
    )


def ours(ids: Sequence[str]) -> list[int]:
    return [assign(KEY, HASH_VERSION, uid, WEIGHTS, COVERAGE)[0] for uid in ids]


def sdk_fresh(ids: Sequence[str]) -> list[int]:
    out = []
    for uid in ids:
        gb = GrowthBook(attributes={"id": uid})
        result = gb.run(_experiment())
        out.append(result.variationId if result.inExperiment else -1)
        gb.destroy()
    return out


def sdk_reused(ids: Sequence[str]) -> list[int]:
    gb = GrowthBook(attributes={})
    out = []
    for uid in ids:
        gb.set_attributes({"id": uid})
        result = gb.run(_experiment())
        out.append(result.variationId if result.inExperiment else -1)
    gb.destroy()
    return out


def _rate(fn: Callable[[Sequence[str]], list[int]], ids: Sequence[str]) -> float:
    start = time.perf_counter()
    fn(ids)
    return len(ids) / (time.perf_counter() - start)


def make_ids(count: int, kind: str) -> list[str]:
    if kind == "uuid":
        return [str(uuid.UUID(int=i * 0x9E3779B97F4A7C15 % (1 << 128))) for i in range(count)]
    return [f"user-{i}" for i in range(count)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--id-kind", choices=("seq", "uuid"), default="seq")
    args = parser.parse_args(argv)
    ids = make_ids(args.ids, args.id_kind)

    expected = sdk_fresh(ids)
    mismatches = sum(a != b for a, b in zip(ours(ids), expected, strict=True))
    if mismatches or sdk_reused(ids) != expected:
        raise SystemExit(f"assignment mismatch on {mismatches} of {len(ids)} ids")

    rows: dict[str, list[float]] = {"ours": [], "sdk_fresh": [], "sdk_reused": []}
    ratios_fresh: list[float] = []
    ratios_reused: list[float] = []
    for _ in range(args.runs):
        r_ours = _rate(ours, ids)
        r_fresh = _rate(sdk_fresh, ids)
        r_reused = _rate(sdk_reused, ids)
        rows["ours"].append(r_ours)
        rows["sdk_fresh"].append(r_fresh)
        rows["sdk_reused"].append(r_reused)
        ratios_fresh.append(r_ours / r_fresh)
        ratios_reused.append(r_ours / r_reused)

    print(
        f"experiment {KEY!r}: weights {WEIGHTS}, coverage {COVERAGE}, hash v{HASH_VERSION}; "
        f"{len(ids):,} {args.id_kind} ids, {args.runs} runs, 0 mismatches"
    )
    for name, label in (
        ("ours", "splitlab assign()"),
        ("sdk_fresh", "growthbook GrowthBook(...).run() per user"),
        ("sdk_reused", "growthbook one instance, set_attributes + run()"),
    ):
        print(f"  {label:<50} {statistics.median(rows[name]):>12,.0f} decisions/s (median)")
    print(f"  ratio vs fresh SDK instance   median {statistics.median(ratios_fresh):.2f}x")
    print(f"  ratio vs reused SDK instance  median {statistics.median(ratios_reused):.2f}x")


if __name__ == "__main__":
    main()
