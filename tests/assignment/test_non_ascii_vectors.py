"""Our non-ASCII vectors (``vectors_non_ascii.json``), computed by the real GrowthBook JS SDK.

They pin the rule documented in ``splitlab.assignment.hashing``: FNV-1a over UTF-16 code units.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from splitlab.assignment.hashing import BucketPlan, fnv1a32, hash, in_namespace
from tests.assignment.conformance import VECTORS_PATH

_VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def _params(name: str) -> list[Any]:
    return [pytest.param(row, id=f"{i:03d}") for i, row in enumerate(_VECTORS[name])]


def test_vectors_record_their_provenance() -> None:
    assert _VECTORS["produced_by"]["sdk"].startswith("@growthbook/growthbook@")
    assert any(not row[1].isascii() for row in _VECTORS["hash"])
    assert any(ord(ch) > 0xFFFF for row in _VECTORS["hash"] for ch in row[1])


@pytest.mark.parametrize("row", _params("hash"))
def test_hash_matches_js_sdk(row: list[Any]) -> None:
    seed, value, version, expected = row
    assert hash(seed, value, version) == expected


@pytest.mark.parametrize("row", _params("inNamespace"))
def test_namespace_matches_js_sdk(row: list[Any]) -> None:
    user_id, (namespace, start, end), expected = row
    assert in_namespace(user_id, (namespace, start, end)) is expected


@pytest.mark.parametrize("row", _params("run"))
def test_assignment_matches_js_sdk_run(row: list[Any]) -> None:
    user_id, experiment, result = row
    n_variations = len(experiment["variations"])
    plan = BucketPlan(
        seed=experiment.get("seed") or experiment["key"],
        hash_version=experiment["hashVersion"],
        weights=tuple(experiment.get("weights") or [1 / n_variations] * n_variations),
        coverage=experiment.get("coverage", 1.0),
        namespace=tuple(experiment["namespace"]) if "namespace" in experiment else None,
    )
    index, bucket = plan.assign(user_id)
    assert index == (result["variationId"] if result["inExperiment"] else -1)
    if result["inExperiment"]:
        assert bucket == result["bucket"]


def test_astral_character_hashes_as_its_surrogate_pair() -> None:
    expected = 0x811C9DC5
    for unit in (0xD83D, 0xDE00):
        expected = ((expected ^ unit) * 0x01000193) & 0xFFFFFFFF
    assert fnv1a32("\U0001f600") == expected


def test_bmp_character_hashes_as_one_unit_not_utf8_bytes() -> None:
    assert fnv1a32("é") == ((0x811C9DC5 ^ 0xE9) * 0x01000193) & 0xFFFFFFFF


def test_ids_are_not_unicode_normalised() -> None:
    assert hash("seed", "e\u0301", 2) != hash("seed", "\u00e9", 2)
