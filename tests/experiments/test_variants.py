"""Variant rules: at least two, unique keys, one control, allocations summing to 100."""

from __future__ import annotations

import pytest

from splitlab.errors import ValidationFailed
from splitlab.experiments.schemas import VariantSpec
from splitlab.experiments.service import build_variants


def specs(*pairs: tuple[str, float | None]) -> list[VariantSpec]:
    return [VariantSpec(key=key, allocation=allocation) for key, allocation in pairs]


def test_default_variants_are_a_fifty_fifty_control_and_treatment() -> None:
    variants = build_variants(None)
    assert [(v.key, v.allocation, v.is_control) for v in variants] == [
        ("control", 50, True),
        ("treatment", 50, False),
    ]


def test_omitted_allocations_split_equally() -> None:
    variants = build_variants(specs(("a", None), ("b", None), ("c", None)))
    assert [v.allocation for v in variants] == pytest.approx([100 / 3] * 3)


def test_first_variant_is_control_when_none_is_flagged() -> None:
    variants = build_variants(specs(("a", 30), ("b", 70)))
    assert [v.is_control for v in variants] == [True, False]


def test_flagged_control_is_kept() -> None:
    variants = build_variants(
        [VariantSpec(key="a", allocation=50), VariantSpec(key="b", allocation=50, is_control=True)]
    )
    assert [v.is_control for v in variants] == [False, True]


def test_names_default_to_keys() -> None:
    assert [v.name for v in build_variants(specs(("a", 50), ("b", 50)))] == ["a", "b"]


def test_allocations_within_tolerance_are_accepted() -> None:
    variants = build_variants(specs(("a", 33.33), ("b", 33.33), ("c", 33.33)))
    assert len(variants) == 3


@pytest.mark.parametrize(
    ("variants", "loc", "fragment"),
    [
        (specs(("a", 100)), ["variants"], "at least two"),
        (specs(("a", 50), ("a", 50)), ["variants", 1, "key"], "duplicate"),
        (specs(("a", 50), ("b", 40)), ["variants", "allocation"], "sum to 100"),
        (specs(("a", 60), ("b", 60)), ["variants", "allocation"], "sum to 100"),
        (specs(("a", 50), ("b", None)), ["variants", 1, "allocation"], "required"),
        (
            [
                VariantSpec(key="a", allocation=50, is_control=True),
                VariantSpec(key="b", allocation=50, is_control=True),
            ],
            ["variants", 1, "is_control"],
            "only one",
        ),
    ],
    ids=["one-variant", "duplicate-key", "sum-90", "sum-120", "partial", "two-controls"],
)
def test_invalid_variants_say_which_field_is_wrong(
    variants: list[VariantSpec], loc: list[object], fragment: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build_variants(variants)
    assert caught.value.details[0]["loc"] == loc
    assert fragment in caught.value.message
