"""In-process assignment throughput: Splitlab's decision vs the ``growthbook`` SDK's own ``run``.

Both sides evaluate the same experiment for the same users (attributes included), and the answers
are first checked to agree on every user. Two experiments: ``plain`` (three variations, uneven
weights, 90 % coverage, hash version 2) and ``targeted`` (the same plus a targeting condition that
leaves 60 % of the users out). Splitlab is timed through ``decide`` — what the server runs
per decision: the compiled condition, then the bucketing plan — over a frozen config, as the
server holds it in cache. Each run times every side, interleaved in chunks, and yields ratios from
that run; the figures printed are medians over the runs.

    python -m bench.assignment_bench [--ids 20000] [--runs 5] [--id-kind seq|uuid]

The SDK is measured two ways: one instance whose attributes are swapped per user (its fastest use,
the headline ratio) and a fresh ``GrowthBook(attributes=...)`` per user, as a server evaluating one
request would. The ``Experiment`` object is built once, outside the timed loop, for both.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from growthbook import Experiment, GrowthBook

from splitlab.assignment.config import AssignmentConfig
from splitlab.assignment.hashing import assign
from splitlab.assignment.service import decide

KEY = "checkout-redesign"
WEIGHTS = (0.2, 0.3, 0.5)
COVERAGE = 0.9
HASH_VERSION = 2
CONDITION = {"country": {"$in": ["US", "CA", "GB"]}, "plan": {"$ne": "free"}}
COUNTRIES = ("US", "CA", "GB", "FR", "DE")
PLANS = ("free", "pro", "team", "enterprise")

Users = Sequence[tuple[str, dict[str, Any]]]


def config(condition: dict[str, Any] | None) -> AssignmentConfig:
    n = len(WEIGHTS)
    return AssignmentConfig(
        experiment_id=1,
        workspace_id=1,
        key=KEY,
        status="running",
        version="bench",
        seed=KEY,
        hash_version=HASH_VERSION,
        bucket_version=0,
        variant_ids=tuple(range(n)),
        variant_keys=tuple(f"v{i}" for i in range(n)),
        variant_configs=({},) * n,
        weights=WEIGHTS,
        control_index=0,
        coverage=COVERAGE,
        condition=condition,
        namespace=None,
        sticky=True,
        override_enabled=True,
    )


def experiment(condition: dict[str, Any] | None) -> Experiment:
    return Experiment(
        key=KEY,
        variations=[0, 1, 2],
        weights=list(WEIGHTS),
        coverage=COVERAGE,
        hashVersion=HASH_VERSION,
        condition=condition,
    )


def ours(cfg: AssignmentConfig) -> Callable[[Users], list[int]]:
    def run(users: Users) -> list[int]:
        return [decide(cfg, uid, attributes).index for uid, attributes in users]

    return run


def hash_only(users: Users) -> list[int]:
    """The bucketing alone (no targeting): the floor under ``decide``."""
    return [assign(KEY, HASH_VERSION, uid, WEIGHTS, COVERAGE)[0] for uid, _ in users]


def sdk_fresh(exp: Experiment) -> Callable[[Users], list[int]]:
    def run(users: Users) -> list[int]:
        out = []
        for _, attributes in users:
            # A copy, as a request handler would build: destroy() clears the dict it was given.
            gb = GrowthBook(attributes=dict(attributes))
            result = gb.run(exp)
            out.append(result.variationId if result.inExperiment else -1)
            gb.destroy()
        return out

    return run


def sdk_reused(exp: Experiment) -> Callable[[Users], list[int]]:
    def run(users: Users) -> list[int]:
        gb = GrowthBook(attributes={})
        out = []
        for _, attributes in users:
            gb.set_attributes(attributes)
            result = gb.run(exp)
            out.append(result.variationId if result.inExperiment else -1)
        gb.set_attributes({})  # destroy() clears the attributes dict it holds: not a user's
        gb.destroy()
        return out

    return run


def _timed_run(sides: dict[str, Callable[[Users], list[int]]], users: Users) -> dict[str, float]:
    """Decisions per second of every side over all users, timed in interleaved chunks.

    Other processes share the machine: timing each side over all users in turn would hand a
    burst of their load to whichever side runs then. Alternating sides chunk by chunk (rotating
    which goes first) spreads it evenly, so the ratio from one run stays meaningful.
    """
    elapsed = dict.fromkeys(sides, 0.0)
    chunk = max(1, len(users) // 40)
    order = list(sides)
    for n, start in enumerate(range(0, len(users), chunk)):
        part = users[start : start + chunk]
        for side in order[n % len(order) :] + order[: n % len(order)]:
            began = time.perf_counter()
            sides[side](part)
            elapsed[side] += time.perf_counter() - began
    return {side: len(users) / seconds for side, seconds in elapsed.items()}


def make_users(count: int, kind: str) -> list[tuple[str, dict[str, Any]]]:
    users = []
    for i in range(count):
        if kind == "uuid":
            uid = str(uuid.UUID(int=i * 0x9E3779B97F4A7C15 % (1 << 128)))
        else:
            uid = f"user-{i}"
        attributes = {"id": uid, "country": COUNTRIES[i % 5], "plan": PLANS[(i // 5) % 4]}
        users.append((uid, attributes))
    return users


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--id-kind", choices=("seq", "uuid"), default="seq")
    args = parser.parse_args(argv)
    users = make_users(args.ids, args.id_kind)

    print(
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}; experiment weights {WEIGHTS}, coverage {COVERAGE}, "
        f"hash v{HASH_VERSION}; {len(users):,} {args.id_kind} ids, {args.runs} runs"
    )
    for name, condition in (("plain", None), ("targeted", CONDITION)):
        sides = {
            "ours": ours(config(condition)),
            "sdk_reused": sdk_reused(experiment(condition)),
            "sdk_fresh": sdk_fresh(experiment(condition)),
        }
        if condition is None:
            sides["hash_only"] = hash_only
        expected = sides["sdk_fresh"](users)
        for side, fn in sides.items():
            mismatches = sum(a != b for a, b in zip(fn(users), expected, strict=True))
            if mismatches:
                raise SystemExit(f"{name}: {side} disagrees with the SDK on {mismatches} users")
        excluded = expected.count(-1) / len(expected)

        rates: dict[str, list[float]] = {side: [] for side in sides}
        ratios: dict[str, list[float]] = {"sdk_reused": [], "sdk_fresh": []}
        for _ in range(args.runs):
            run = _timed_run(sides, users)
            for side, rate in run.items():
                rates[side].append(rate)
            for side in ratios:
                ratios[side].append(run["ours"] / run[side])

        print(
            f"\n{name}: condition {condition}; {excluded:.0%} not in the experiment, 0 mismatches"
        )
        labels = {
            "ours": "splitlab decide() (condition + bucket)",
            "hash_only": "splitlab assign() (bucket only)",
            "sdk_reused": "growthbook: one instance, set_attributes + run()",
            "sdk_fresh": "growthbook: GrowthBook(attributes).run() per user",
        }
        for side in sides:
            print(f"  {labels[side]:<52} {statistics.median(rates[side]):>10,.0f} decisions/s")
        for side in ratios:
            per_run = ", ".join(f"{r:.2f}" for r in ratios[side])
            print(
                f"  ratio vs {side:<11} median {statistics.median(ratios[side]):.2f}x"
                f"  (per run: {per_run})"
            )


if __name__ == "__main__":
    main()
