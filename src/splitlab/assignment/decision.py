"""One experiment rule's decision for one user: targeting, namespace, then the hash bucket.

Pure (hashing and conditions only), so the server's assignment service and the Python client's
local evaluation of the SDK payload run exactly the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from splitlab.assignment.conditions import eval_condition
from splitlab.assignment.hashing import assign as bucket


class Reason(StrEnum):
    ASSIGNED = "assigned"
    STICKY = "sticky"
    OVERRIDE = "override"
    NOT_RUNNING = "not_running"
    NOT_TARGETED = "not_targeted"
    NAMESPACE = "namespace"
    COVERAGE = "coverage"


@dataclass(frozen=True, slots=True)
class Decision:
    index: int
    reason: Reason
    hash_value: float | None = None

    @property
    def in_experiment(self) -> bool:
        return self.index >= 0


def decide_rule(
    *,
    seed: str,
    hash_version: int,
    user_id: str,
    attributes: Mapping[str, Any],
    weights: Sequence[float],
    coverage: float = 1.0,
    namespace: tuple[str, float, float] | None = None,
    condition: Mapping[str, Any] | None = None,
) -> Decision:
    """GrowthBook's experiment-rule evaluation: the condition over ``attributes``, then the
    namespace, then coverage and weights on the hash of ``seed`` and ``user_id``.

    Deterministic: the same rule and user give the same answer in every process and SDK.
    """
    if condition is not None and not eval_condition(attributes, condition):
        return Decision(-1, Reason.NOT_TARGETED)
    index, value = bucket(seed, hash_version, user_id, weights, coverage, namespace)
    if index >= 0:
        return Decision(index, Reason.ASSIGNED, value)
    if value is None and namespace is not None:
        return Decision(-1, Reason.NAMESPACE)
    return Decision(-1, Reason.COVERAGE, value)
