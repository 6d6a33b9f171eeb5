"""Experiment use cases: every rule of experiment management lives here, once.

Services flush but never commit: the caller's unit of work (request or CLI ``session_scope``)
commits once on success.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from splitlab.assignment.cache import mark_changed
from splitlab.assignment.config import validate_targeting
from splitlab.errors import AppError, ValidationFailed
from splitlab.experiments import repository
from splitlab.experiments.errors import (
    DuplicateExperiment,
    ExperimentLocked,
    ExperimentNotFound,
    IllegalTransition,
)
from splitlab.experiments.model import ACTIONS, TRANSITIONS, ExperimentStatus, target_status
from splitlab.experiments.schemas import (
    NULLABLE_SETTINGS,
    SETTING_FIELDS,
    ExperimentChanges,
    ExperimentSpec,
    VariantSpec,
)
from splitlab.storage.base import utcnow
from splitlab.storage.models import Experiment, LifecycleEvent, Variant, Workspace

ALLOCATION_TOLERANCE = 0.01
#: Keys that would shadow fixed routes under /api/experiments/.
RESERVED_KEYS = frozenset({"stats", "sdk", "evaluate"})
DEFAULT_VARIANTS = (
    VariantSpec(key="control", name="Control", allocation=50, is_control=True),
    VariantSpec(key="treatment", name="Treatment", allocation=50),
)

S = ExperimentStatus


def _invalid(loc: list[str | int], message: str, kind: str = "value_error") -> ValidationFailed:
    where = ".".join(str(part) if isinstance(part, str) else f"[{part}]" for part in loc)
    where = where.replace(".[", "[")
    return ValidationFailed(
        f"{where}: {message}", details=[{"loc": loc, "msg": message, "type": kind}]
    )


def build_variants(specs: list[VariantSpec] | None) -> list[VariantSpec]:
    """Validate a variant list and fill its defaults.

    At least two variants with unique keys; allocations all given (summing to 100 within 0.01) or
    all omitted (an equal split); exactly one control, the first when none is flagged.
    """
    if specs is None:
        specs = list(DEFAULT_VARIANTS)
    if len(specs) < 2:
        raise _invalid(["variants"], "an experiment needs at least two variants")
    seen: set[str] = set()
    for index, spec in enumerate(specs):
        if spec.key in seen:
            raise _invalid(["variants", index, "key"], f"duplicate variant key '{spec.key}'")
        seen.add(spec.key)

    given = [spec.allocation is not None for spec in specs]
    if any(given) and not all(given):
        missing = given.index(False)
        raise _invalid(
            ["variants", missing, "allocation"],
            "allocation is required when other variants set one",
        )
    allocations = (
        [float(spec.allocation or 0) for spec in specs]
        if all(given)
        else [100 / len(specs)] * len(specs)
    )
    total = math.fsum(allocations)
    if abs(total - 100) > ALLOCATION_TOLERANCE + 1e-9:  # 1e-9: float noise in the sum
        raise _invalid(["variants", "allocation"], f"allocations must sum to 100, got {total:g}")

    controls = [index for index, spec in enumerate(specs) if spec.is_control]
    if len(controls) > 1:
        raise _invalid(["variants", controls[1], "is_control"], "only one variant can be control")
    control_index = controls[0] if controls else 0

    return [
        VariantSpec(
            key=spec.key,
            name=spec.name or spec.key,
            allocation=allocation,
            is_control=index == control_index,
            config=spec.config,
        )
        for index, (spec, allocation) in enumerate(zip(specs, allocations, strict=True))
    ]


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:90].strip("-")
    return slug or "experiment"


def _derive_key(session: Session, workspace_id: int, name: str) -> str:
    base = slugify(name)
    if base in RESERVED_KEYS:
        base = f"{base}-experiment"
    key, suffix = base, 2
    while repository.key_taken(session, workspace_id, key):
        key, suffix = f"{base}-{suffix}", suffix + 1
    return key


def _check_dates(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end < start:
        raise _invalid(["end_date"], "end date is before start date")


def _check_unique(
    session: Session, workspace_id: int, *, key: str | None, name: str | None, exclude: int | None
) -> None:
    if key is not None:
        if key.lower() in RESERVED_KEYS:
            raise _invalid(["key"], f"'{key}' is reserved")
        if repository.key_taken(session, workspace_id, key, exclude_id=exclude):
            raise DuplicateExperiment("An experiment with this key already exists")
    if name is not None and repository.name_taken(session, workspace_id, name, exclude_id=exclude):
        raise DuplicateExperiment("An experiment with this name already exists")


def _flush_unique(session: Session) -> None:
    """Flush, turning a lost race on the unique constraints into the same 409 as the pre-check."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise DuplicateExperiment("An experiment with this key or name already exists") from exc


def _record(
    session: Session,
    experiment: Experiment,
    action: str,
    actor: str | None,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    changes: dict[str, Any] | None = None,
    notes: str | None = None,
) -> None:
    # Every change is recorded here, so this is also where cached configs are marked stale.
    mark_changed(session, experiment.workspace_id, experiment.key, experiment.id)
    repository.add_lifecycle_event(
        session,
        LifecycleEvent(
            experiment_id=experiment.id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            changes=changes or {},
            notes=notes,
            created_at=utcnow(),
        ),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _variants_snapshot(variants: list[Variant] | list[VariantSpec]) -> list[dict[str, Any]]:
    return [
        {
            "key": v.key,
            "name": v.name,
            "allocation": v.allocation,
            "is_control": v.is_control,
            "config": v.config,
        }
        for v in variants
    ]


def workspace_of(session: Session, experiment_id: int) -> Workspace | None:
    """The workspace an experiment id belongs to (seed 003 addresses experiments by id alone)."""
    workspace_id = repository.workspace_id_of(session, experiment_id)
    return session.get(Workspace, workspace_id) if workspace_id is not None else None


def get_experiment(session: Session, workspace: Workspace, ref: str | int) -> Experiment:
    experiment = repository.get(session, workspace.id, ref)
    if experiment is None:
        raise ExperimentNotFound()
    return experiment


def create_experiment(
    session: Session, workspace: Workspace, spec: ExperimentSpec, *, actor: str | None
) -> Experiment:
    """Create an experiment (a draft unless ``spec.status`` asks to start it at once)."""
    variants = build_variants(spec.variants)
    validate_targeting(spec.targeting)
    _check_dates(spec.start_date, spec.end_date)
    if spec.status not in (S.DRAFT, S.RUNNING):
        raise _invalid(["status"], "a new experiment starts as a draft or running")
    _check_unique(session, workspace.id, key=spec.key, name=spec.name, exclude=None)
    key = spec.key or _derive_key(session, workspace.id, spec.name)
    now = utcnow()
    experiment = Experiment(
        workspace_id=workspace.id,
        key=key,
        name=spec.name,
        description=spec.description,
        hypothesis=spec.hypothesis,
        status=S.DRAFT.value,
        targeting=spec.targeting,
        **spec.settings.model_dump(),
        hash_version=2,
        variant_ref=spec.variant_ref,
        metrics=spec.metrics,
        start_date=spec.start_date,
        end_date=spec.end_date,
        created_by=spec.created_by or actor,
        created_at=now,
        updated_at=now,
        variants=[
            Variant(
                position=position,
                key=v.key,
                name=v.name or v.key,
                allocation=v.allocation or 0.0,
                is_control=bool(v.is_control),
                config=v.config,
            )
            for position, v in enumerate(variants)
        ],
    )
    session.add(experiment)
    _flush_unique(session)
    _record(
        session,
        experiment,
        "created",
        actor,
        to_status=S.DRAFT.value,
        changes={"variants": _variants_snapshot(variants)},
    )
    if spec.status is S.RUNNING:
        return change_status(session, workspace, experiment.id, S.RUNNING, actor=actor)
    return experiment


def _apply_variants(session: Session, experiment: Experiment, specs: list[VariantSpec]) -> None:
    """Edit variants in place by key so surviving variants keep their ids."""
    existing = {variant.key: variant for variant in experiment.variants}
    kept: list[Variant] = []
    for position, spec in enumerate(specs):
        variant = existing.pop(spec.key, None) or Variant(key=spec.key)
        variant.position = position
        variant.name = spec.name or spec.key
        variant.allocation = spec.allocation or 0.0
        variant.is_control = bool(spec.is_control)
        variant.config = spec.config
        kept.append(variant)
    for removed in existing.values():
        session.delete(removed)
    session.flush()
    experiment.variants = kept


#: The settings an edit simply sets (the hash seed and bucket version have rules of their own).
_SETTING_FIELDS = tuple(f for f in SETTING_FIELDS if f not in ("hash_seed", "bucket_version"))
_PLAIN_FIELDS = (
    "name",
    "description",
    "hypothesis",
    "targeting",
    "start_date",
    "end_date",
    "variant_ref",
    "metrics",
    *_SETTING_FIELDS,
)


#: What decides an experiment's results: fixed once it is completed or cancelled (its name,
#: description, hypothesis and free-form metrics may still be edited).
FROZEN_WHEN_FINAL = frozenset(
    {*SETTING_FIELDS, "key", "targeting", "variants", "start_date", "end_date"}
)


def update_experiment(
    session: Session,
    workspace: Workspace,
    ref: str | int,
    changes: ExperimentChanges,
    *,
    actor: str | None,
    notes: str | None = None,
) -> Experiment:
    """Apply the fields the client sent; variants and the key change only while a draft."""
    experiment = get_experiment(session, workspace, ref)
    experiment = repository.get_for_update(session, experiment.id)
    sent = changes.model_fields_set
    status = S(experiment.status)
    diff: dict[str, Any] = {}

    if "key" in sent and changes.key is not None and changes.key != experiment.key:
        if status is not S.DRAFT:
            raise ExperimentLocked(
                "The key of an experiment can only change while it is a draft (it seeds bucketing)"
            )
        _check_unique(session, workspace.id, key=changes.key, name=None, exclude=experiment.id)
        mark_changed(session, workspace.id, experiment.key)
        diff["key"] = {"from": experiment.key, "to": changes.key}
        experiment.key = changes.key
    if "name" in sent and changes.name is None:
        raise _invalid(["name"], "name cannot be null")
    if "name" in sent and changes.name != experiment.name:
        _check_unique(session, workspace.id, key=None, name=changes.name, exclude=experiment.id)
    for field in _SETTING_FIELDS:
        if field in sent and getattr(changes, field) is None and field not in NULLABLE_SETTINGS:
            raise _invalid([field], f"{field} cannot be null")
    if "targeting" in sent:
        changes.targeting = changes.targeting or {}
        validate_targeting(changes.targeting)

    if "hash_seed" in sent and changes.hash_seed != experiment.hash_seed:
        if status is not S.DRAFT:
            raise ExperimentLocked("The hash seed can only change while the experiment is a draft")
        diff["hash_seed"] = {"from": experiment.hash_seed, "to": changes.hash_seed}
        experiment.hash_seed = changes.hash_seed
    if "bucket_version" in sent and changes.bucket_version != experiment.bucket_version:
        if changes.bucket_version is None or changes.bucket_version < experiment.bucket_version:
            raise _invalid(["config", "bucket_version"], "bucket_version can only increase")
        diff["bucket_version"] = {"from": experiment.bucket_version, "to": changes.bucket_version}
        experiment.bucket_version = changes.bucket_version

    for field in _PLAIN_FIELDS:
        if field not in sent:
            continue
        new, old = getattr(changes, field), getattr(experiment, field)
        if new != old:
            diff[field] = {"from": _jsonable(old), "to": _jsonable(new)}
            setattr(experiment, field, new)
    _check_dates(experiment.start_date, experiment.end_date)

    if "variants" in sent:
        if changes.variants is None:
            raise _invalid(["variants"], "variants cannot be null")
        specs = build_variants(changes.variants)
        before = _variants_snapshot(experiment.variants)
        after = _variants_snapshot(specs)
        if before != after:
            if status is not S.DRAFT:
                raise ExperimentLocked(
                    "Variants and allocations can only change while the experiment is a draft"
                )
            _apply_variants(session, experiment, specs)
            diff["variants"] = {"from": before, "to": after}

    frozen = sorted(diff.keys() & FROZEN_WHEN_FINAL) if status.is_final else []
    if frozen:
        raise ExperimentLocked(
            f"A {status.value} experiment's results are the record of its decision: "
            f"{', '.join(frozen)} can no longer change"
        )
    if diff:
        experiment.updated_at = utcnow()
        _flush_unique(session)
        _record(session, experiment, "updated", actor, changes=diff, notes=notes)
    return experiment


def change_status(
    session: Session,
    workspace: Workspace,
    ref: str | int,
    target: ExperimentStatus,
    *,
    actor: str | None,
    notes: str | None = None,
    winning_variant: str | None = None,
    preserve_dates: bool = False,
) -> Experiment:
    """Move an experiment along its lifecycle, recording the transition.

    Starting sets ``start_date`` and completing sets ``end_date`` when they are not already set,
    unless ``preserve_dates`` (seed 003's flag) says to leave dates alone.
    """
    experiment = get_experiment(session, workspace, ref)
    experiment = repository.get_for_update(session, experiment.id)
    current = S(experiment.status)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"Cannot move an experiment from {current.value} to {target.value}",
            details={"from": current.value, "to": target.value},
        )
    if winning_variant is not None:
        if target is not S.COMPLETED:
            raise _invalid(["winning_variant"], "a winner is only named when concluding")
        if repository.variant_by_key(experiment, winning_variant) is None:
            raise _invalid(
                ["winning_variant"], f"'{winning_variant}' is not a variant of this experiment"
            )

    now = utcnow()
    changes: dict[str, Any] = {}
    if not preserve_dates:
        if target is S.RUNNING and experiment.start_date is None:
            experiment.start_date = now
            changes["start_date"] = now.isoformat()
        if target in (S.COMPLETED, S.CANCELLED) and experiment.end_date is None:
            experiment.end_date = now
            changes["end_date"] = now.isoformat()
    if target is S.COMPLETED:
        experiment.winning_variant = winning_variant
        experiment.conclusion_notes = notes
        if winning_variant is not None:
            changes["winning_variant"] = winning_variant
    experiment.status = target.value
    experiment.updated_at = now
    session.flush()
    _record(
        session,
        experiment,
        ACTIONS.get((current, target), target.value),
        actor,
        from_status=current.value,
        to_status=target.value,
        changes=changes,
        notes=notes,
    )
    return experiment


def revise(
    session: Session,
    workspace: Workspace,
    ref: str | int,
    changes: ExperimentChanges | None,
    status_word: str | None,
    *,
    actor: str | None,
    preserve_dates: bool = False,
    unknown_status: Callable[[str], AppError],
) -> Experiment:
    """An edit and a status change asked in one request (seed 001's PUT, seed 003's PATCH), in
    one order: the edit first (variants can only change while a draft, before it starts), then
    the move, if the word asks for one. ``unknown_status`` is the dialect's error for a word
    no status has; both happen in the caller's transaction, or neither."""
    experiment = get_experiment(session, workspace, ref)
    if changes is not None and changes.model_fields_set:
        experiment = update_experiment(session, workspace, experiment.id, changes, actor=actor)
    if status_word is None:
        return experiment
    current = S(experiment.status)
    target = target_status(status_word, current)
    if target is None:
        raise unknown_status(status_word)
    if target is current:
        return experiment
    return change_status(
        session, workspace, experiment.id, target, actor=actor, preserve_dates=preserve_dates
    )


def start_experiment(
    session: Session, workspace: Workspace, ref: str | int, *, actor: str | None
) -> Experiment:
    return change_status(session, workspace, ref, S.RUNNING, actor=actor)


def pause_experiment(
    session: Session, workspace: Workspace, ref: str | int, *, actor: str | None
) -> Experiment:
    return change_status(session, workspace, ref, S.PAUSED, actor=actor)


def conclude_experiment(
    session: Session,
    workspace: Workspace,
    ref: str | int,
    *,
    winning_variant: str | None,
    notes: str | None,
    actor: str | None,
) -> Experiment:
    return change_status(
        session,
        workspace,
        ref,
        S.COMPLETED,
        actor=actor,
        notes=notes,
        winning_variant=winning_variant,
    )


def cancel_experiment(
    session: Session, workspace: Workspace, ref: str | int, *, actor: str | None
) -> Experiment:
    """Cancel (seed 000's DELETE); cancelling a cancelled experiment changes nothing."""
    experiment = get_experiment(session, workspace, ref)
    if experiment.status == S.CANCELLED.value:
        return experiment
    return change_status(session, workspace, ref, S.CANCELLED, actor=actor)


@dataclass(frozen=True, slots=True)
class ExperimentPage:
    items: list[Experiment]
    total: int
    page: int
    size: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.size) if self.total else 0


def list_experiments(
    session: Session,
    workspace: Workspace,
    *,
    statuses: list[ExperimentStatus] | None = None,
    search: str | None = None,
    page: int = 1,
    size: int = 50,
    offset: int | None = None,
    sort_by: str = "createdAt",
    descending: bool = True,
) -> ExperimentPage:
    """One page of a workspace's experiments: by page number, or by raw ``offset`` if given."""
    items, total = repository.list_page(
        session,
        workspace_ids=[workspace.id],
        statuses=[s.value for s in statuses] if statuses else None,
        search=search,
        offset=(page - 1) * size if offset is None else offset,
        limit=size,
        sort_by=sort_by,
        descending=descending,
    )
    return ExperimentPage(items=items, total=total, page=page, size=size)


def lifecycle_history(
    session: Session, workspace: Workspace, ref: str | int
) -> tuple[Experiment, list[LifecycleEvent]]:
    experiment = get_experiment(session, workspace, ref)
    return experiment, repository.lifecycle_events(session, experiment.id)


@dataclass(frozen=True, slots=True)
class ExperimentStats:
    by_status: dict[str, int]
    total_users_assigned: int
    total_exposures: int
    total_metrics_tracked: int

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def experiment_stats(session: Session, workspace: Workspace) -> ExperimentStats:
    ids = [workspace.id]
    counts = repository.count_by_status(session, ids)
    return ExperimentStats(
        by_status={status.value: counts.get(status.value, 0) for status in S},
        total_users_assigned=repository.count_distinct_exposed_users(session, ids),
        total_exposures=repository.count_exposures(session, ids),
        total_metrics_tracked=repository.count_experiment_events(session, ids),
    )
