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

from splitlab.assignment import repository, sdk
from splitlab.assignment.cache import LocalConfigCache, RedisCache, StickyAssignment, queue_sticky
from splitlab.assignment.config import HASH_ATTRIBUTE, AssignmentConfig, build_config
from splitlab.assignment.decision import Decision, Reason, decide_rule
from splitlab.assignment.schemas import MAX_BATCH
from splitlab.errors import InvalidState, ValidationFailed
from splitlab.events import totals
from splitlab.experiments.errors import ExperimentNotFound
from splitlab.storage.base import utcnow
from splitlab.storage.models import Workspace


def decide(config: AssignmentConfig, user_id: str, attributes: dict[str, Any]) -> Decision:
    """The GrowthBook decision for one user under ``config`` (see :func:`decide_rule`).

    Pure and deterministic: the same config and user give the same answer in every process.
    """
    return decide_rule(config.plan, config.matches, user_id, attributes)


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
        """The config of the experiment ``ref`` names (key first, else integer id), from one
        indexed version lookup and the in-process cache. (The hot path goes through
        ``runtime.plane``, which needs not even that lookup.)"""
        row = repository.experiment_version(session, workspace.id, str(ref))
        if row is None:
            raise ExperimentNotFound()
        return self._config_at(session, *row)

    def _config_at(
        self, session: Session, experiment_id: int, updated_at: datetime
    ) -> AssignmentConfig:
        """The config of one version of an experiment, built once per process."""
        config = self.local.get(f"{experiment_id}:{updated_at.isoformat()}")
        if config is None:
            experiment = repository.load_experiment(session, experiment_id)
            config = build_config(experiment)
            self.local.put(config)
        return config

    def running_configs(self, session: Session, workspace: Workspace) -> list[AssignmentConfig]:
        """Every running experiment of the workspace, from one query and the in-process cache."""
        return [
            self._config_at(session, experiment_id, updated_at)
            for experiment_id, updated_at in repository.running_experiment_versions(
                session, workspace.id
            )
        ]

    # -- one user ------------------------------------------------------------------------

    def assign(
        self,
        session: Session,
        workspace: Workspace,
        ref: str | int,
        request: AssignmentRequest,
        *,
        properties: dict[str, Any] | None = None,
        record: bool = True,
    ) -> Assignment:
        """Assign one user, recording the exposure the first time they are in the experiment.

        With ``record=False`` (a read-only caller) nothing is written: the answer is the user's
        stored assignment, else the variant they would get, which is not kept.
        """
        config = self.config(session, workspace, ref)
        return self._assign(session, config, request, properties, record=record)

    def _assign(
        self,
        session: Session,
        config: AssignmentConfig,
        request: AssignmentRequest,
        properties: dict[str, Any] | None,
        *,
        record: bool = True,
    ) -> Assignment:
        now = utcnow()

        def answer(
            index: int, reason: Reason, *, is_override: bool = False, at: datetime = now
        ) -> Assignment:
            in_experiment = index >= 0
            shown = index if in_experiment else config.fallback_index
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
            stored = self._record(session, config, request, index, is_override=True, at=now)
            at = now if stored is None else datetime.fromisoformat(stored.exposed_at)
            return answer(index, Reason.OVERRIDE, is_override=True, at=at)
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
            properties = repository.user_properties(session, config.workspace_id, request.user_id)
        decision = decide(config, request.user_id, self._attributes(request, properties))
        if not decision.in_experiment:
            return answer(-1, decision.reason)
        if not record:
            return answer(decision.index, decision.reason)
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

    def check_forced(self, config: AssignmentConfig, variant_key: str) -> None:
        """Raise the 4xx a ``force_variant`` would get, before any work is queued."""
        self._forced_index(config, variant_key)

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
        if self.redis is not None and not config.override_enabled:
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
        """Write the exposure if it is the user's first (an override replaces an earlier one),
        and return the one that is stored."""
        repository.insert_exposures(
            session,
            [self._exposure_row(config, request.user_id, index, is_override, request.context, at)],
        )
        found = repository.find_exposure(
            session, config.experiment_id, config.bucket_version, request.user_id
        )
        if found is None:  # pragma: no cover - the insert above guarantees a row
            return None
        replaced = is_override and found[:2] != (config.variant_keys[index], True)
        if replaced:
            # ``force_variant`` on a user exposed before: the override replaces what they were
            # shown (and takes them out of the analysis, as every forced exposure is), so that
            # the stored exposure, sticky answers and seed 000's metric checks all agree.
            repository.override_exposure(
                session,
                workspace_id=config.workspace_id,
                experiment_id=config.experiment_id,
                bucket_version=config.bucket_version,
                user_id=request.user_id,
                variant_id=config.variant_ids[index],
                context=request.context,
                at=at,
            )
            found = (config.variant_keys[index], True, at)
        sticky = StickyAssignment(found[0], found[1], found[2].isoformat())
        if self.redis is not None:
            queue_sticky(
                session,
                config.experiment_id,
                config.bucket_version,
                request.user_id,
                sticky,
                replaces=replaced,
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
        check_batch(requests)
        config = self.config(session, workspace, ref)
        return self.assign_pairs(session, [(config, r) for r in requests])

    # -- any users, any experiments: what the group committer runs -------------------------

    def assign_pairs(
        self,
        session: Session,
        pairs: Sequence[tuple[AssignmentConfig, AssignmentRequest]],
        *,
        record: bool = True,
    ) -> list[Assignment]:
        """Assign each ``(config, request)`` pair with a constant number of queries per
        experiment: the answers ``_assign`` gives one by one, for any mix of experiments and
        users (the requests of many concurrent callers, batched into one transaction).

        With ``record=False`` nothing is written: stored assignments, else would-be variants.
        """
        if any(r.force_variant is not None for _, r in pairs):
            # Overrides replace exposures one by one; they are rare and keep their own path.
            # Every user's lock first, in one sorted statement (as every writer takes them),
            # so that the one-by-one writes below never wait for a lock out of order.
            if record:
                totals.lock_users(
                    session, {(c.workspace_id, r.user_id) for c, r in pairs}, shared=False
                )
            return [self._assign(session, c, r, None, record=record) for c, r in pairs]
        now = utcnow()
        answers: list[tuple[int, Reason, bool, datetime] | None] = [None] * len(pairs)
        # 1. Sticky assignments: Redis first (one round trip), then the database.
        sticky_wanted: dict[tuple[int, int], set[str]] = {}
        for i, (config, request) in enumerate(pairs):
            if config.status != "running":
                answers[i] = (-1, Reason.NOT_RUNNING, False, now)
            elif config.sticky:
                sticky_wanted.setdefault((config.experiment_id, config.bucket_version), set()).add(
                    request.user_id
                )
        stored: dict[tuple[int, int, str], tuple[str, bool, datetime]] = {}
        fills: list[tuple[int, int, str, StickyAssignment]] = []
        if sticky_wanted and self.redis is not None:
            # Not for experiments that allow overrides: an override replaces the stored
            # exposure, and a replacement Redis missed (down at the time) must not live on.
            no_overrides = {c.experiment_id for c, _ in pairs if not c.override_enabled}
            wanted = [
                (e, b, u)
                for (e, b), users in sticky_wanted.items()
                if e in no_overrides
                for u in users
            ]
            for key, cached in zip(
                wanted, self.redis.get_stickies(wanted) if wanted else [], strict=True
            ):
                if cached is not None:
                    stored[key] = (
                        cached.variant_key,
                        cached.is_override,
                        datetime.fromisoformat(cached.exposed_at),
                    )
                    sticky_wanted[key[:2]].discard(key[2])
        lookups = [(e, b, u) for (e, b), users in sticky_wanted.items() for u in sorted(users)]
        for key, row in repository.find_exposures_of(session, lookups).items():
            stored[key] = row
            fills.append((*key, _sticky_of(row)))
        undecided: list[int] = []
        for i, (config, request) in enumerate(pairs):
            if answers[i] is not None:
                continue
            earlier = stored.get((config.experiment_id, config.bucket_version, request.user_id))
            if config.sticky and earlier is not None:
                index = config.index_of(earlier[0])
                if index is not None:
                    answers[i] = (index, Reason.STICKY, earlier[1], earlier[2])
                    continue
            undecided.append(i)
        # 2. Decisions, on stored user properties merged with each request's attributes.
        # Only a targeting condition reads attributes (the hash reads the user id alone).
        wanted_properties = sorted(
            {
                (pairs[i][0].workspace_id, pairs[i][1].user_id)
                for i in undecided
                if pairs[i][0].condition is not None
            }
        )
        properties = repository.properties_of(session, wanted_properties)
        new_rows: dict[tuple[int, int, str], dict[str, Any]] = {}
        decided: dict[tuple[int, int, str], tuple[int, Reason, bool, datetime]] = {}
        for i in undecided:
            config, request = pairs[i]
            key = (config.experiment_id, config.bucket_version, request.user_id)
            if config.sticky and key in decided:
                # The same user twice in one sticky experiment (a batch, or two requests in
                # one group): the first decision is theirs, as if the second came after it.
                answers[i] = decided[key]
                continue
            decision = decide(
                config,
                request.user_id,
                self._attributes(
                    request, properties.get((config.workspace_id, request.user_id), {})
                ),
            )
            answers[i] = decided[key] = (decision.index, decision.reason, False, now)
            if decision.in_experiment and record:
                new_rows.setdefault(
                    (config.experiment_id, config.bucket_version, request.user_id),
                    self._exposure_row(
                        config, request.user_id, decision.index, False, request.context, now
                    ),
                )
        # 3. New exposures, first one wins: whoever lost a race is shown what is stored.
        if new_rows:
            inserted = repository.insert_exposures(session, list(new_rows.values()))
            if inserted < len(new_rows):
                # Some lost a race to a concurrent writer: what is stored is what they see.
                stored.update(repository.find_exposures_of(session, list(new_rows)))
            for key, new_row in new_rows.items():
                winner = stored.get(key)
                if winner is None:
                    winner = (_key_of_variant(pairs, new_row), False, now)
                    stored[key] = winner
                fills.append((*key, _sticky_of(winner)))
            for i in undecided:
                config, request = pairs[i]
                answer = answers[i]
                assert answer is not None
                winner = stored.get((config.experiment_id, config.bucket_version, request.user_id))
                if config.sticky and winner is not None and answer[0] >= 0:
                    index = config.index_of(winner[0])
                    if index is not None and index != answer[0]:
                        answers[i] = (index, Reason.STICKY, winner[1], winner[2])
        if self.redis is not None and record:
            for experiment_id, bucket_version, user_id, sticky in fills:
                queue_sticky(session, experiment_id, bucket_version, user_id, sticky)
        results = []
        for (config, request), answer in zip(pairs, answers, strict=True):
            assert answer is not None
            index, reason, is_override, at = answer
            shown = index if index >= 0 else config.fallback_index
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
        plain = AssignmentRequest(request.user_id, request.attributes, None, request.context)
        return self.assign_pairs(
            session, [(config, plain) for config in self.running_configs(session, workspace)]
        )


def check_batch(requests: Sequence[AssignmentRequest]) -> None:
    if len(requests) > MAX_BATCH:
        raise ValidationFailed(
            f"at most {MAX_BATCH} users per batch",
            details=[{"loc": ["body", "users"], "msg": f"at most {MAX_BATCH}", "type": "too_long"}],
        )


def _sticky_of(row: tuple[str, bool, datetime]) -> StickyAssignment:
    return StickyAssignment(row[0], row[1], row[2].isoformat())


def _key_of_variant(
    pairs: Sequence[tuple[AssignmentConfig, AssignmentRequest]], row: dict[str, Any]
) -> str:
    for config, _ in pairs:
        if config.experiment_id == row["experiment_id"]:
            return config.variant_keys[config.variant_ids.index(row["variant_id"])]
    raise LookupError(row["experiment_id"])  # pragma: no cover - rows come from these pairs


def list_assignments(
    session: Session,
    workspace: Workspace,
    *,
    experiment_ref: str | None,
    user_id: str | None,
    offset: int,
    limit: int,
) -> tuple[list[tuple[Any, str, str]], int]:
    """Recorded exposures, oldest first, optionally of one experiment (key or id) or user."""
    experiment_id = None
    if experiment_ref is not None:
        found = repository.experiment_version(session, workspace.id, experiment_ref)
        if found is None:
            raise ExperimentNotFound()
        experiment_id = found[0]
    return repository.list_exposures(
        session,
        workspace.id,
        experiment_id=experiment_id,
        user_id=user_id,
        offset=offset,
        limit=limit,
    )


def sdk_payload(assigner: Assigner, session: Session, workspace: Workspace) -> dict[str, Any]:
    """The workspace's running experiments as a GrowthBook SDK payload."""
    return sdk.sdk_payload(assigner.running_configs(session, workspace))
