"""The GrowthBook SDK payload of a workspace: what any GrowthBook SDK evaluates locally.

Every running, paused or completed experiment becomes two features:

- ``<experiment key>``, valued by **variant key** (``"control"``, ``"treatment"``);
- ``<experiment key>:config``, valued by the **variant's config** object (``{}`` when none).

A running experiment's features carry one experiment rule each, with the exact seed (the bucket
version included: ``config.bucket_seed``), hash version, weights, coverage, namespace and
targeting condition the server decides with, so an SDK picks the same variant as the server.
Both rules name the same experiment, so an SDK decides once and reports one exposure through its
``trackingCallback`` (GrowthBook SDKs de-duplicate tracking by experiment, user and variation;
Splitlab counts a user's first exposure only in any case).

A paused experiment serves its control to everyone and a completed one its winning variant
(the control when none was named): the feature's default value, with no rule, so SDKs report no
exposure for them, exactly as the server records none.

``:`` cannot occur in an experiment key (``experiments.schemas.KEY_PATTERN``), so a config
feature never collides with another experiment's feature.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic_core import to_json

from splitlab.assignment.config import HASH_ATTRIBUTE, AssignmentConfig
from splitlab.assignment.features import CONFIG_SUFFIX


def experiment_rule(
    config: AssignmentConfig, variations: list[Any] | None = None
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "key": config.key,
        "seed": config.seed,
        "hashVersion": config.hash_version,
        "hashAttribute": HASH_ATTRIBUTE,
        "variations": list(config.variant_keys) if variations is None else variations,
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
    features: dict[str, Any] = {}
    for config in configs:
        running = config.status == "running"
        configs_of_variants = [dict(c) for c in config.variant_configs]
        features[config.key] = {
            "defaultValue": config.fallback_key,
            "rules": [experiment_rule(config)] if running else [],
        }
        features[config.key + CONFIG_SUFFIX] = {
            "defaultValue": configs_of_variants[config.fallback_index],
            "rules": [experiment_rule(config, configs_of_variants)] if running else [],
        }
    return {"status": 200, "features": features}


def rendered_payload(configs: list[AssignmentConfig]) -> tuple[bytes, str]:
    """The payload's JSON and its strong ``ETag`` (a digest of exactly those bytes)."""
    body = to_json(sdk_payload(configs))
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False
