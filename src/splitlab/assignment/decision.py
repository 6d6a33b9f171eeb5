"""One experiment rule's decision for one user: targeting, namespace, then the hash bucket.

Pure (hashing and conditions only), so the server's assignment service and the Python client's
local evaluation of the SDK payload run exactly the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from splitlab.assignment.conditions import Predicate
from splitlab.assignment.hashing import BucketPlan


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
    plan: BucketPlan, matches: Predicate | None, user_id: str, attributes: Any
) -> Decision:
    """GrowthBook's experiment-rule evaluation: the targeting condition (compiled once per rule
    with :func:`~splitlab.assignment.conditions.compile_condition`) over ``attributes``, then the
    namespace, then coverage and weights on the hash of the seed and ``user_id``.

    Deterministic: the same rule and user give the same answer in every process and SDK.
    """
    if matches is not None and not matches(attributes):
        return Decision(-1, Reason.NOT_TARGETED)
    index, value = plan.assign(user_id)
    if index >= 0:
        return Decision(index, Reason.ASSIGNED, value)
    if value is None and plan.namespace is not None:
        return Decision(-1, Reason.NAMESPACE)
    return Decision(-1, Reason.COVERAGE, value)
