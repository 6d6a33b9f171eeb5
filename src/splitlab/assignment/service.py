"""Assignment use cases: decide a user's variant, keep it sticky, record the exposure once.

The decision itself is pure (``decide``: GrowthBook hashing and conditions over a frozen config);
this module adds what needs storage — configs, user properties, sticky assignments, exposures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from splitlab.assignment import repository
from splitlab.assignment.cache import LocalConfigCache, RedisCache, StickyAssignment, queue_sticky
from splitlab.assignment.config import HASH_ATTRIBUTE, AssignmentConfig, build_config, version_of
from splitlab.assignment.decision import Decision, Reason, decide_rule
from splitlab.errors import InvalidState, ValidationFailed
from splitlab.experiments.errors import ExperimentNotFound
from splitlab.storage.base import utcnow
from splitlab.storage.models import Workspace

MAX_BATCH = 10_000


def decide(config: AssignmentConfig, user_id: str, attributes: dict[str, Any]) -> Decision:
    """The GrowthBook decision for one user under ``config`` (see :func:`decide_rule`)."""
    return decide_rule(
        seed=config.seed,
        hash_version=config.hash_version,
        user_id=user_id,
        attributes=attributes,
        weights=config.weights,
        coverage=config.coverage,
        namespace=config.namespace.as_tuple() if config.namespace is not None else None,
        condition=config.condition,
    )


@dataclass(frozen=True, slots=True)
class AssignmentRequest:
    user_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    force_variant: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment_id: int
    experiment_key: str
    user_id: str
    variant_key: str
    variant_config: dict[str, Any]
    in_experiment: bool
    reason: Reason
    is_override: bool
    assigned_at: datetime
    bucket_version: int


class Assigner:
    """Per-process assignment engine; holds the config caches, never request state."""

    def __init__(self, redis: RedisCache | None = None) -> None:
        self.local = LocalConfigCache()
        self.redis = redis

    # -- configs -------------------------------------------------------------------------

    def config(self, session: Session, workspace: Workspace, ref: str | int) -> AssignmentConfig:
        ref = str(ref)
        generation = "None"
        if self.redis is not None:
            cached, generation = self.redis.get_config(workspace.id, ref)
            if cached is not None:
                return cached
        row = repository.experiment_version(session, workspace.id, ref)
        if row is None:
            raise ExperimentNotFound()
        experiment_id, updated_at = row
        config = self.local.get(f"{experiment_id}:{updated_at.isoformat()}")
        if config is None:
            experiment = repository.load_experiment(session, experiment_id)
            config = build_config(experiment)
            assert config.version == version_of(experiment)
            self.local.put(config)
        if self.redis is not None:
            self.redis.put_config(config, generation, ref, str(config.experiment_id))
        return config

    # -- one user ------------------------------------------------------------------------

    def assign(
        self,
        session: Session,
        workspace: Workspace,
        ref: str | int,
        request: AssignmentRequest,
        *,
        properties: dict[str, Any] | None = None,
    ) -> Assignment:
        """Assign one user, recording the exposure the first time they are in the experiment."""
        config = self.config(session, workspace, ref)
        now = utcnow()

        def answer(
            index: int, reason: Reason, *, is_override: bool = False, at: datetime = now
        ) -> Assignment:
            in_experiment = index >= 0
            shown = index if in_experiment else config.control_index
            return Assignment(
                experiment_id=config.experiment_id,
                experiment_key=config.key,
                user_id=request.user_id,
                variant_key=config.variant_keys[shown],
                variant_config=config.variant_configs[shown],
                in_experiment=in_experiment,
                reason=reason,
                is_override=is_override,
                assigned_at=at,
                bucket_version=config.bucket_version,
            )

        if request.force_variant is not None:
            index = self._forced_index(config, request.force_variant)
            if config.status != "running":
                return answer(-1, Reason.NOT_RUNNING)
            self._record(session, config, request, index, is_override=True, at=now)
            return answer(index, Reason.OVERRIDE, is_override=True)
        if config.status != "running":
            return answer(-1, Reason.NOT_RUNNING)

        if config.sticky:
            sticky = self._sticky(session, config, request.user_id)
            if sticky is not None:
                sticky_index = config.index_of(sticky.variant_key)
                if sticky_index is not None:
                    return answer(
                        sticky_index,
                        Reason.STICKY,
                        is_override=sticky.is_override,
                        at=datetime.fromisoformat(sticky.exposed_at),
                    )

        if properties is None:
            properties = repository.user_properties(session, workspace.id, request.user_id)
        decision = decide(config, request.user_id, self._attributes(request, properties))
        if not decision.in_experiment:
            return answer(-1, decision.reason)
        stored = self._record(session, config, request, decision.index, is_override=False, at=now)
        if (
            config.sticky
            and stored is not None
            and stored.variant_key != config.variant_keys[decision.index]
        ):
            # A concurrent request (or an override) exposed this user first: it stays theirs.
            stored_index = config.index_of(stored.variant_key)
            if stored_index is not None:
                return answer(
                    stored_index,
                    Reason.STICKY,
                    is_override=stored.is_override,
                    at=datetime.fromisoformat(stored.exposed_at),
                )
        return answer(decision.index, decision.reason)

    def _forced_index(self, config: AssignmentConfig, variant_key: str) -> int:
        if not config.override_enabled:
            raise InvalidState(
                "Overrides are disabled for this experiment (config.override_enabled is false)",
                code="overrides_disabled",
            )
        index = config.index_of(variant_key)
        if index is None:
            raise ValidationFailed(
                f"force_variant: '{variant_key}' is not a variant of this experiment",
                details=[
                    {
                        "loc": ["body", "force_variant"],
                        "msg": "unknown variant",
                        "type": "value_error",
                    }
                ],
            )
        return index

    @staticmethod
    def _attributes(request: AssignmentRequest, properties: dict[str, Any]) -> dict[str, Any]:
        """Stored user properties, overridden by what the request sends; ``id`` is the user."""
        return {
            **properties,
            **request.context,
            **request.attributes,
            HASH_ATTRIBUTE: request.user_id,
        }

    def _sticky(
        self, session: Session, config: AssignmentConfig, user_id: str
    ) -> StickyAssignment | None:
        if self.redis is not None:
            cached = self.redis.get_sticky(config.experiment_id, config.bucket_version, user_id)
            if cached is not None:
                return cached
        found = repository.find_exposure(
            session, config.experiment_id, config.bucket_version, user_id
        )
        if found is None:
            return None
        sticky = StickyAssignment(found[0], found[1], found[2].isoformat())
        if self.redis is not None:
            queue_sticky(session, config.experiment_id, config.bucket_version, user_id, sticky)
        return sticky

    def _record(
        self,
        session: Session,
        config: AssignmentConfig,
        request: AssignmentRequest,
        index: int,
        *,
        is_override: bool,
        at: datetime,
    ) -> StickyAssignment | None:
        """Write the exposure if it is the user's first, and return the one that is stored."""
        repository.insert_exposures(
            session,
            [self._exposure_row(config, request.user_id, index, is_override, request.context, at)],
        )
        found = repository.find_exposure(
            session, config.experiment_id, config.bucket_version, request.user_id
        )
        if found is None:  # pragma: no cover - the insert above guarantees a row
            return None
        sticky = StickyAssignment(found[0], found[1], found[2].isoformat())
        if self.redis is not None:
            queue_sticky(
                session, config.experiment_id, config.bucket_version, request.user_id, sticky
            )
        return sticky

    @staticmethod
    def _exposure_row(
        config: AssignmentConfig,
        user_id: str,
        index: int,
        is_override: bool,
        context: dict[str, Any],
        at: datetime,
    ) -> dict[str, Any]:
        return {
            "workspace_id": config.workspace_id,
            "experiment_id": config.experiment_id,
            "variant_id": config.variant_ids[index],
            "user_id": user_id,
            "bucket_version": config.bucket_version,
            "is_override": is_override,
            "context": context,
            "exposed_at": at,
        }

    # -- many users, one experiment --------------------------------------------------------

    def assign_many(
        self,
        session: Session,
        workspace: Workspace,
        ref: str | int,
        requests: Sequence[AssignmentRequest],
    ) -> list[Assignment]:
        """Assign a batch of users to one experiment with a constant number of queries."""
        if len(requests) > MAX_BATCH:
            raise ValidationFailed(
                f"at most {MAX_BATCH} users per batch",
                details=[
                    {"loc": ["body", "users"], "msg": f"at most {MAX_BATCH}", "type": "too_long"}
                ],
            )
        if any(r.force_variant is not None for r in requests):
            return [self.assign(session, workspace, ref, r) for r in requests]
        config = self.config(session, workspace, ref)
        if config.status != "running":
            return [self.assign(session, workspace, ref, r) for r in requests]
        now = utcnow()
        user_ids = [r.user_id for r in requests]
        existing = (
            repository.find_exposures(
                session, config.experiment_id, config.bucket_version, user_ids
            )
            if config.sticky
            else {}
        )
        properties = repository.users_properties(session, workspace.id, user_ids)
        decisions: dict[str, tuple[int, Reason, bool, datetime]] = {}
        new_rows: list[dict[str, Any]] = []
        for request in requests:
            if request.user_id in decisions:
                continue
            if request.user_id in existing:
                key, is_override, at = existing[request.user_id]
                index = config.index_of(key)
                if index is not None:
                    decisions[request.user_id] = (index, Reason.STICKY, is_override, at)
                    continue
            decision = decide(
                config,
                request.user_id,
                self._attributes(request, properties.get(request.user_id, {})),
            )
            decisions[request.user_id] = (decision.index, decision.reason, False, now)
            if decision.in_experiment:
                new_rows.append(
                    self._exposure_row(
                        config, request.user_id, decision.index, False, request.context, now
                    )
                )
        repository.insert_exposures(session, new_rows)
        if config.sticky and new_rows:
            stored = repository.find_exposures(
                session,
                config.experiment_id,
                config.bucket_version,
                [r["user_id"] for r in new_rows],
            )
            for user_id, (key, is_override, at) in stored.items():
                index = config.index_of(key)
                if index is not None and index != decisions[user_id][0]:
                    decisions[user_id] = (index, Reason.STICKY, is_override, at)
        results = []
        for request in requests:
            index, reason, is_override, at = decisions[request.user_id]
            shown = index if index >= 0 else config.control_index
            results.append(
                Assignment(
                    experiment_id=config.experiment_id,
                    experiment_key=config.key,
                    user_id=request.user_id,
                    variant_key=config.variant_keys[shown],
                    variant_config=config.variant_configs[shown],
                    in_experiment=index >= 0,
                    reason=reason,
                    is_override=is_override,
                    assigned_at=at,
                    bucket_version=config.bucket_version,
                )
            )
        return results

    # -- one user, every running experiment -------------------------------------------------

    def evaluate_all(
        self, session: Session, workspace: Workspace, request: AssignmentRequest
    ) -> list[Assignment]:
        """What an application calls per page view: every running experiment, one user."""
        properties = repository.user_properties(session, workspace.id, request.user_id)
        plain = AssignmentRequest(request.user_id, request.attributes, None, request.context)
        return [
            self.assign(session, workspace, experiment_id, plain, properties=properties)
            for experiment_id in repository.running_experiment_ids(session, workspace.id)
        ]


def list_assignments(
    session: Session,
    workspace: Workspace,
    *,
    experiment_id: int | None,
    user_id: str | None,
    offset: int,
    limit: int,
) -> tuple[list[tuple[Any, str, str]], int]:
    return repository.list_exposures(
        session,
        workspace.id,
        experiment_id=experiment_id,
        user_id=user_id,
        offset=offset,
        limit=limit,
    )


def running_configs(
    assigner: Assigner, session: Session, workspace: Workspace
) -> list[AssignmentConfig]:
    return [
        assigner.config(session, workspace, experiment_id)
        for experiment_id in repository.running_experiment_ids(session, workspace.id)
    ]
