"""The ``growthbook`` PyPI SDK as an independent oracle: same hash, same variation, any input.

Python SDKs before the UTF-16 fix hash code points, which differs from the JS reference only for
characters above U+FFFF (one code point, two UTF-16 units). The main properties therefore draw ids
from the Basic Multilingual Plane, where both rules agree; the astral property runs only when the
installed SDK reproduces a JS-computed astral vector from ``vectors_non_ascii.json``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from growthbook import Experiment, GrowthBook
from hypothesis import given, settings
from hypothesis import strategies as st

from splitlab.assignment.hashing import assign, hash
from tests.assignment.conformance import VECTORS_PATH

try:  # growthbook >= 1.2 keeps the pure functions in growthbook.core
    from growthbook.core import chooseVariation, gbhash, getBucketRanges, inNamespace
except ImportError:  # pragma: no cover - older layout
    from growthbook import chooseVariation, gbhash, getBucketRanges, inNamespace

_ASTRAL_ROW = next(
    row
    for row in json.loads(VECTORS_PATH.read_text(encoding="utf-8"))["hash"]
    if any(ord(ch) > 0xFFFF for ch in row[1])
)
SDK_HASHES_UTF16 = gbhash(*_ASTRAL_ROW[:3]) == _ASTRAL_ROW[3]

bmp_ids = st.text(
    alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)),
    min_size=1,
    max_size=40,
)
astral_ids = st.text(
    alphabet=st.characters(min_codepoint=0x10000, exclude_categories=("Cs",)),
    min_size=1,
    max_size=8,
).flatmap(lambda astral: bmp_ids.map(lambda bmp: bmp + astral))
seeds = st.text(
    alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)), max_size=24
)
weight_vectors = st.lists(st.integers(1, 100), min_size=2, max_size=5).map(
    lambda ws: tuple(w / sum(ws) for w in ws)
)
namespaces = st.none() | st.tuples(st.text(max_size=10), st.floats(0, 0.5), st.floats(0.5, 1))


def sdk_pure(
    seed: str, version: int, user_id: str, weights: tuple[float, ...], coverage: float, ns: Any
) -> tuple[int, float | None]:
    if ns is not None and not inNamespace(user_id, ns):
        return -1, None
    n = gbhash(seed, user_id, version)
    return chooseVariation(n, getBucketRanges(len(weights), coverage, list(weights))), n


@settings(max_examples=400, deadline=None)
@given(
    seed=seeds,
    version=st.sampled_from([1, 2]),
    user_id=bmp_ids,
    weights=weight_vectors,
    coverage=st.floats(0, 1),
    ns=namespaces,
)
def test_assign_matches_sdk_functions(
    seed: str, version: int, user_id: str, weights: tuple[float, ...], coverage: float, ns: Any
) -> None:
    assert assign(seed, version, user_id, weights, coverage, ns) == sdk_pure(
        seed, version, user_id, weights, coverage, ns
    )


@settings(max_examples=200, deadline=None)
@given(
    key=seeds.filter(bool),
    custom_seed=st.none() | seeds.filter(bool),
    user_id=bmp_ids,
    weights=weight_vectors,
    coverage=st.floats(0, 1),
)
def test_assign_matches_sdk_run(
    key: str, custom_seed: str | None, user_id: str, weights: tuple[float, ...], coverage: float
) -> None:
    gb = GrowthBook(attributes={"id": user_id})
    result = gb.run(
        Experiment(
            key=key,
            variations=list(range(len(weights))),
            weights=list(weights),
            coverage=coverage,
            hashVersion=2,
            seed=custom_seed or "",
        )
    )
    gb.destroy()
    index, n = assign(custom_seed or key, 2, user_id, weights, coverage)
    assert index == (result.variationId if result.inExperiment else -1)
    if result.inExperiment:
        assert n == result.bucket


@pytest.mark.skipif(
    not SDK_HASHES_UTF16,
    reason="the installed growthbook SDK hashes code points, not UTF-16 units, above U+FFFF",
)
@settings(max_examples=200, deadline=None)
@given(seed=seeds, version=st.sampled_from([1, 2]), user_id=astral_ids)
def test_astral_ids_match_sdk_when_it_hashes_utf16(seed: str, version: int, user_id: str) -> None:
    assert hash(seed, user_id, version) == gbhash(seed, user_id, version)
