"""What assignment needs to know about an experiment, frozen and cheap to evaluate.

Built from the ORM rows once per experiment version and cached (in process, and in Redis when
configured); every field is plain data so it serialises to JSON for Redis and for the SDK payload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from splitlab.assignment.conditions import check_condition, compile_condition
from splitlab.assignment.hashing import BucketPlan
from splitlab.errors import ValidationFailed
from splitlab.storage.models import Experiment

HASH_ATTRIBUTE = "id"


@dataclass(frozen=True, slots=True)
class Namespace:
    """GrowthBook namespace: users hashed into ``[start, end)`` of namespace ``id`` participate."""

    id: str
    start: float
    end: float

    def as_tuple(self) -> tuple[str, float, float]:
        return (self.id, self.start, self.end)


@dataclass(frozen=True, slots=True)
class AssignmentConfig:
    experiment_id: int
    workspace_id: int
    key: str
    status: str
    version: str
    seed: str
    hash_version: int
    bucket_version: int
    variant_ids: tuple[int, ...]
    variant_keys: tuple[str, ...]
    variant_configs: tuple[dict[str, Any], ...]
    weights: tuple[float, ...]
    control_index: int
    #: What everyone outside the experiment is served: the control, or once the experiment is
    #: completed, its winning variant (the control when none was named).
    fallback_index: int
    coverage: float
    condition: dict[str, Any] | None
    namespace: Namespace | None
    sticky: bool
    override_enabled: bool
    # Derived once per config, for the hot path: the bucketing plan and the compiled condition.
    plan: BucketPlan = field(init=False, repr=False, compare=False)
    matches: Callable[[Any], bool] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        namespace = self.namespace.as_tuple() if self.namespace is not None else None
        plan = BucketPlan(self.seed, self.hash_version, self.weights, self.coverage, namespace)
        object.__setattr__(self, "plan", plan)
        matches = compile_condition(self.condition) if self.condition is not None else None
        object.__setattr__(self, "matches", matches)

    @property
    def control_key(self) -> str:
        return self.variant_keys[self.control_index]

    @property
    def fallback_key(self) -> str:
        return self.variant_keys[self.fallback_index]

    def index_of(self, variant_key: str) -> int | None:
        try:
            return self.variant_keys.index(variant_key)
        except ValueError:
            return None

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        data["namespace"] = asdict(self.namespace) if self.namespace else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AssignmentConfig:
        namespace = Namespace(**data["namespace"]) if data.get("namespace") else None
        return cls(
            **{
                **data,
                "namespace": namespace,
                "variant_ids": tuple(data["variant_ids"]),
                "variant_keys": tuple(data["variant_keys"]),
                "variant_configs": tuple(data["variant_configs"]),
                "weights": tuple(data["weights"]),
            }
        )


def version_of(experiment: Experiment) -> str:
    """Changes whenever the experiment does: every service edit bumps ``updated_at``."""
    return f"{experiment.id}:{experiment.updated_at.isoformat()}"


def parse_namespace(raw: Any) -> Namespace | None:
    """``["name", start, end]`` (GrowthBook's form) or ``{"id", "start", "end"}``."""
    if raw is None:
        return None
    try:
        if isinstance(raw, dict):
            ns = Namespace(str(raw["id"]), float(raw["start"]), float(raw["end"]))
        else:
            ident, start, end = raw
            ns = Namespace(str(ident), float(start), float(end))
    except (KeyError, TypeError, ValueError):
        ns = None
    if ns is None or not 0 <= ns.start < ns.end <= 1:
        raise ValidationFailed(
            "targeting.namespace must be [id, start, end] with 0 <= start < end <= 1",
            details=[
                {
                    "loc": ["targeting", "namespace"],
                    "msg": "invalid namespace",
                    "type": "value_error",
                }
            ],
        )
    return ns


def targeting_condition(targeting: dict[str, Any]) -> dict[str, Any] | None:
    """Seed 000's ``roles`` and a GrowthBook ``condition``, as one GrowthBook condition.

    ``roles: [a, b]`` means the user's ``role`` attribute is one of them, i.e.
    ``{"role": {"$in": [a, b]}}``; expressing it in the condition language lets GrowthBook SDKs
    evaluate it locally exactly as the server does.
    """
    parts: list[dict[str, Any]] = []
    roles = targeting.get("roles")
    if roles:
        parts.append({"role": {"$in": list(roles)}})
    condition = targeting.get("condition")
    if condition:
        parts.append(condition)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def coverage_of(targeting: dict[str, Any]) -> float:
    percentage = targeting.get("percentage", 100)
    return float(percentage) / 100.0


def validate_targeting(targeting: dict[str, Any]) -> None:
    """Reject targeting the engine could not evaluate, where it enters."""

    def bad(field: str, message: str) -> ValidationFailed:
        return ValidationFailed(
            f"targeting.{field}: {message}",
            details=[{"loc": ["targeting", field], "msg": message, "type": "value_error"}],
        )

    percentage = targeting.get("percentage", 100)
    if (
        isinstance(percentage, bool)
        or not isinstance(percentage, int | float)
        or not 0 <= percentage <= 100
    ):
        raise bad("percentage", "must be a number from 0 to 100")
    roles = targeting.get("roles")
    if roles is not None and (
        not isinstance(roles, list) or not all(isinstance(r, str) for r in roles)
    ):
        raise bad("roles", "must be a list of strings")
    condition = targeting.get("condition")
    if condition is not None and not isinstance(condition, dict):
        raise bad("condition", "must be an object in the GrowthBook condition language")
    check_condition(condition)  # a $regex JavaScript cannot compile is a 422, not a silent no-match
    parse_namespace(targeting.get("namespace"))


def bucket_seed(seed: str, bucket_version: int) -> str:
    """The seed users are hashed with: the experiment's seed, with the bucket version past 0.

    Raising the bucket version re-randomises everyone, on the server and in every SDK (the
    payload carries this seed): the version is part of what is hashed, so users fall into new
    buckets independent of the old ones. Version 0 hashes the seed alone, as GrowthBook does.
    ``bucket_version`` here counts from ``Experiment.bucket_seed_base``: experiments whose version
    was raised before the seed carried it keep their hashing until it is raised again.
    """
    return seed if bucket_version == 0 else f"{seed}/{bucket_version}"


def build_config(experiment: Experiment) -> AssignmentConfig:
    """Freeze an experiment (with variants loaded) into its assignment config."""
    variants = experiment.variants
    targeting = experiment.targeting or {}
    control = next((i for i, v in enumerate(variants) if v.is_control), 0)
    fallback = control
    if experiment.status == "completed" and experiment.winning_variant is not None:
        fallback = next(
            (i for i, v in enumerate(variants) if v.key == experiment.winning_variant), control
        )
    return AssignmentConfig(
        experiment_id=experiment.id,
        workspace_id=experiment.workspace_id,
        key=experiment.key,
        status=experiment.status,
        version=version_of(experiment),
        seed=bucket_seed(
            experiment.hash_seed or experiment.key,
            experiment.bucket_version - (experiment.bucket_seed_base or 0),
        ),
        hash_version=experiment.hash_version,
        bucket_version=experiment.bucket_version,
        variant_ids=tuple(v.id for v in variants),
        variant_keys=tuple(v.key for v in variants),
        variant_configs=tuple(v.config or {} for v in variants),
        weights=tuple(v.allocation / 100.0 for v in variants),
        control_index=control,
        fallback_index=fallback,
        coverage=coverage_of(targeting),
        condition=targeting_condition(targeting),
        namespace=parse_namespace(targeting.get("namespace")),
        sticky=experiment.sticky_bucketing,
        override_enabled=experiment.override_enabled,
    )
