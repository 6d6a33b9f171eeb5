"""Behaviour of the pure bucketing core beyond the shared spec: validation and invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitlab.assignment.hashing import BucketPlan, assign, fnv1a32, get_bucket_ranges, hash

ids = st.text(min_size=1, max_size=40)
weight_vectors = st.lists(st.integers(1, 100), min_size=2, max_size=5).map(
    lambda ws: tuple(w / sum(ws) for w in ws)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)],
)
def test_fnv1a32_matches_reference_vectors(text: str, expected: int) -> None:
    assert fnv1a32(text) == expected


def test_unknown_hash_version_hashes_to_none() -> None:
    assert hash("seed", "user", 3) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hash_version": 3}, "hash version"),
        ({"weights": ()}, "at least one"),
        ({"weights": (0.3, 0.2)}, "sum to 1"),
        ({"weights": (1.2, -0.2)}, "non-negative"),
        ({"weights": (math.nan, 1.0)}, "finite"),
        ({"coverage": 1.5}, "coverage"),
        ({"coverage": -0.1}, "coverage"),
        ({"namespace": ("ns", 0.5, 1.2)}, "namespace"),
        ({"namespace": ("ns", 0.6, 0.4)}, "namespace"),
    ],
)
def test_plan_rejects_invalid_experiment(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"seed": "exp", "hash_version": 2, "weights": (0.5, 0.5)}
    with pytest.raises(ValueError, match=message):
        BucketPlan(**(base | kwargs))  # type: ignore[arg-type]


def test_empty_id_is_not_in_the_experiment() -> None:
    assert assign("exp", 2, "", (0.5, 0.5)) == (-1, None)


def test_user_outside_namespace_is_not_hashed_into_the_experiment() -> None:
    # "1" is outside [0, 0.4) of namespace1 (shared spec case "user 1, namespace1, 1").
    assert assign("exp", 2, "1", (0.5, 0.5), namespace=("namespace1", 0, 0.4)) == (-1, None)


@settings(max_examples=300, deadline=None)
@given(seed=st.text(max_size=20), user_id=ids, version=st.sampled_from([1, 2]))
def test_plan_bucket_equals_hash(seed: str, user_id: str, version: int) -> None:
    assert BucketPlan(seed, version, (0.5, 0.5)).bucket(user_id) == hash(seed, user_id, version)


@settings(max_examples=300, deadline=None)
@given(
    user_id=ids,
    weights=weight_vectors,
    low=st.floats(0, 1),
    high=st.floats(0, 1),
)
def test_lowering_coverage_drops_users_never_moves_them(
    user_id: str, weights: tuple[float, ...], low: float, high: float
) -> None:
    low, high = sorted((low, high))
    index_low, _ = assign("exp", 2, user_id, weights, low)
    index_high, _ = assign("exp", 2, user_id, weights, high)
    assert index_low in (-1, index_high)


@settings(max_examples=300, deadline=None)
@given(user_id=ids, split=st.floats(0, 1))
def test_disjoint_namespace_ranges_never_share_a_user(user_id: str, split: float) -> None:
    left = assign("a", 2, user_id, (1.0,), namespace=("checkout", 0, split))[0]
    right = assign("b", 2, user_id, (1.0,), namespace=("checkout", split, 1))[0]
    assert (left, right) in ((0, -1), (-1, 0))


@given(weights=weight_vectors, coverage=st.floats(0, 1))
def test_ranges_cover_the_coverage_share(weights: tuple[float, ...], coverage: float) -> None:
    ranges = get_bucket_ranges(len(weights), coverage, weights)
    assert math.isclose(sum(end - start for start, end in ranges), coverage, abs_tol=1e-9)
