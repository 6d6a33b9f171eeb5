"""Loads the GrowthBook SDK specification cases shared in ``../shared/conformance/``.

The file lives next to the repository (``/work/shared`` beside ``/work/main``). Without it the
conformance tests skip with the reason; under ``CI=true`` a missing file fails the run instead.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

CASES_PATH = (
    Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "growthbook_cases.json"
)
VECTORS_PATH = Path(__file__).resolve().parent / "vectors_non_ascii.json"


@cache
def load_cases() -> dict[str, Any] | None:
    if CASES_PATH.is_file():
        data: dict[str, Any] = json.loads(CASES_PATH.read_text(encoding="utf-8"))
        return data
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"CI=true but the GrowthBook conformance cases are missing: {CASES_PATH}", pytrace=False
        )
    return None


def section(name: str) -> list[Any]:
    """One ``pytest.param(case)`` per row of a section, or one skipped param if the file is absent."""
    data = load_cases()
    if data is None:
        return [
            pytest.param(
                None,
                id="missing",
                marks=pytest.mark.skip(reason=f"conformance cases not found at {CASES_PATH}"),
            )
        ]
    return [pytest.param(case, id=case_id(name, i, case)) for i, case in enumerate(data[name])]


def case_id(section_name: str, index: int, case: list[Any]) -> str:
    label = (
        case[0]
        if isinstance(case[0], str) and section_name not in ("hash", "getEqualWeights")
        else ""
    )
    return f"{index:03d}-{label}" if label else f"{index:03d}"


def section_length(name: str) -> int | None:
    data = load_cases()
    return None if data is None else len(data[name])
