"""The GrowthBook SDK payload for a workspace's running experiments.

Each experiment becomes a feature (named by the experiment key, valued by variant key) with one
experiment rule carrying the exact seed, hash version, weights, coverage, namespace and targeting
condition the server uses — so a GrowthBook SDK evaluating locally picks the same variant.
"""

from __future__ import annotations

from typing import Any

from splitlab.assignment.config import HASH_ATTRIBUTE, AssignmentConfig


def experiment_rule(config: AssignmentConfig) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "key": config.key,
        "seed": config.seed,
        "hashVersion": config.hash_version,
        "hashAttribute": HASH_ATTRIBUTE,
        "variations": list(config.variant_keys),
        "weights": list(config.weights),
        "coverage": config.coverage,
        "meta": [{"key": key} for key in config.variant_keys],
        "phase": str(config.bucket_version),
    }
    if config.condition is not None:
        rule["condition"] = config.condition
    if config.namespace is not None:
        rule["namespace"] = list(config.namespace.as_tuple())
    return rule


def sdk_payload(configs: list[AssignmentConfig]) -> dict[str, Any]:
    return {
        "features": {
            config.key: {"defaultValue": config.control_key, "rules": [experiment_rule(config)]}
            for config in configs
        }
    }
