"""GrowthBook SDK specification: hashing, bucket ranges, variation choice, weights, namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from splitlab.assignment.hashing import (
    choose_variation,
    get_bucket_ranges,
    get_equal_weights,
    hash,
    in_namespace,
)
from tests.assignment.conformance import section


def _rounded(values: Any) -> Any:
    if isinstance(values, list | tuple):
        return [_rounded(v) for v in values]
    return round(values, 8)


@pytest.mark.parametrize("case", section("hash"))
def test_hash_matches_spec(case: list[Any]) -> None:
    seed, value, version, expected = case
    assert hash(seed, value, version) == expected


@pytest.mark.parametrize("case", section("getBucketRange"))
def test_bucket_ranges_match_spec(case: list[Any]) -> None:
    _, (num_variations, coverage, weights), expected = case
    assert _rounded(get_bucket_ranges(num_variations, coverage, weights)) == _rounded(expected)


@pytest.mark.parametrize("case", section("chooseVariation"))
def test_choose_variation_matches_spec(case: list[Any]) -> None:
    _, n, ranges, expected = case
    assert choose_variation(n, [tuple(r) for r in ranges]) == expected


@pytest.mark.parametrize("case", section("getEqualWeights"))
def test_equal_weights_match_spec(case: list[Any]) -> None:
    num_variations, expected = case
    assert _rounded(get_equal_weights(num_variations)) == _rounded(expected)


@pytest.mark.parametrize("case", section("inNamespace"))
def test_in_namespace_matches_spec(case: list[Any]) -> None:
    _, user_id, (namespace, start, end), expected = case
    assert in_namespace(user_id, (namespace, start, end)) is expected
