"""Exposures reported by SDKs that assign locally (``POST /api/v1/exposures/batch``).

A GrowthBook SDK evaluates the payload (``assignment.sdk``) and reports each exposure through
its ``trackingCallback``; Splitlab's own local evaluator does the same. Each reported exposure is
stored as the user's exposure, exactly as a server-side assignment would store it:

- **What the user saw counts.** The reported variant is recorded, with the time it was shown,
  and folded into the same per-user totals as server-side exposures (``events.totals``), so
  results, analytics, reports and the dashboard cannot tell the two apart.
- **The first exposure wins** per experiment, bucket version and user, whoever reported it (an
  SDK or the server): later ones never move the user and are reported as duplicates, so
  re-sending a batch is a no-op.
- **Disagreements are flagged, not refused.** The server decides the same user with the same
  attributes; when its answer differs (a stale payload, a paused experiment, targeting that
  depends on stored user properties) the exposure is still stored as shown, with
  ``disagrees = true``, and the results count such exposures per variant.

Valid items are stored even when others are rejected; each rejected item is reported with its
index and reasons. One transaction per batch: a 2xx means every accepted exposure committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from splitlab.assignment import repository
from splitlab.assignment.config import HASH_ATTRIBUTE, AssignmentConfig
from splitlab.assignment.decision import decide_rule
from splitlab.assignment.service import Assigner
from splitlab.errors import PayloadTooLarge
from splitlab.events.schemas import Text, Timestamp, check_properties
from splitlab.events.service import Rejection, batch_items, rejection
from splitlab.storage.base import utcnow
from splitlab.storage.models import Experiment, Workspace

#: Deciding each item as the server would (for the disagreement check) may take this many
#: seconds of a batch at most; a pathological targeting regex cannot hold the writer longer.
DECISION_BUDGET = 2.0
#: At most this many exposures per request (and 5 MB, enforced by the front door).
MAX_BATCH_EXPOSURES = 10_000
#: Statuses whose exposures are recorded: running ones, and paused or completed ones reported
#: from a payload fetched before the change (they disagree unless they show the fallback).
RECORDED_STATUSES = ("running", "paused", "completed")


class ExposureIn(BaseModel):
    """One exposure, shaped after GrowthBook's ``trackingCallback(experiment, result)``."""

    model_config = ConfigDict(extra="forbid")

    experiment_key: Text = Field(
        min_length=1, max_length=100, description="`experiment.key` in the tracking callback"
    )
    variant_key: Text | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The variant shown (`result.key`, or the value of the experiment's feature)",
    )
    variation_id: StrictInt | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Or the index of the variation shown (`result.variationId`)",
    )
    user_id: Text = Field(
        min_length=1, max_length=255, description="The hash attribute's value (`result.hashValue`)"
    )
    attributes: Annotated[dict[str, Any], AfterValidator(check_properties)] = Field(
        default_factory=dict,
        description="The attributes the SDK evaluated with (for the disagreement check)",
    )
    timestamp: Timestamp | None = Field(
        default=None,
        description="When it was shown (default: when received; never later than received)",
    )
    phase: Text | None = Field(
        default=None,
        max_length=20,
        description="`experiment.phase` in the tracking callback: the bucket version the "
        "payload had; an exposure of an earlier one is rejected (the payload was stale)",
    )
    exposure_id: Text | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The client's id for this exposure (kept with it, for tracing)",
    )

    @model_validator(mode="after")
    def _a_variant(self) -> ExposureIn:
        if self.variant_key is None and self.variation_id is None:
            raise ValueError("give variant_key or variation_id")
        return self


class ExposureBatchIn(BaseModel):
    """The body of ``POST /api/v1/exposures/batch`` (documentation; items validate one by one)."""

    exposures: list[ExposureIn] = Field(max_length=MAX_BATCH_EXPOSURES)


@dataclass(frozen=True, slots=True)
class ExposureBatchResult:
    received: int
    accepted: int
    duplicates: int
    rejected: list[Rejection]


_BATCH = TypeAdapter(ExposureBatchIn)


def parse_batch(body: bytes, now: datetime) -> list[Any] | list[ExposureIn]:
    """The batch's items: validated straight from the body's bytes in pydantic-core when every
    item is valid (the usual case; a third of the cost of ``json`` plus a validation per item),
    else the raw ``exposures`` list, for ``record_batch`` to validate item by item."""
    try:
        return _BATCH.validate_json(body, context={"now": now}).exposures
    except ValidationError:
        return exposure_list(body)


def exposure_list(body: bytes) -> list[Any]:
    """The ``exposures`` list of a batch body; 400 if it is not one, 413 if it is too long."""
    exposures = batch_items(body, "exposures")
    if len(exposures) > MAX_BATCH_EXPOSURES:
        raise PayloadTooLarge(f"At most {MAX_BATCH_EXPOSURES} exposures per batch")
    return exposures


def _refused(index: int, loc: str, message: str) -> Rejection:
    return Rejection(
        index, f"{loc}: {message}", [{"loc": [loc], "msg": message, "type": "value_error"}]
    )


def _configs(
    session: Session, assigner: Assigner, workspace: Workspace, keys: set[str]
) -> dict[str, tuple[AssignmentConfig, datetime | None]]:
    """The current config and start of each named experiment of the workspace, read in the
    writing transaction (so no exposure is recorded under a config older than the commit's)."""
    if not keys:
        return {}
    rows = session.execute(
        select(Experiment.id, Experiment.updated_at, Experiment.start_date).where(
            Experiment.workspace_id == workspace.id, Experiment.key.in_(keys)
        )
    ).all()
    found = [
        (assigner._config_at(session, experiment_id, at), started)
        for experiment_id, at, started in rows
    ]
    return {config.key: (config, started) for config, started in found}


def _shown_index(config: AssignmentConfig, item: ExposureIn) -> int | str:
    """The index of the variant the item reports, or why it names none of the experiment's."""
    index = None
    if item.variant_key is not None:
        index = config.index_of(item.variant_key)
        if index is None:
            return f"Experiment '{config.key}' has no variant '{item.variant_key}'"
    if item.variation_id is not None:
        if item.variation_id >= len(config.variant_keys):
            return f"Experiment '{config.key}' has {len(config.variant_keys)} variations"
        if index is not None and index != item.variation_id:
            return "variant_key and variation_id name different variants"
        index = item.variation_id
    assert index is not None
    return index


def server_index(config: AssignmentConfig, user_id: str, attributes: dict[str, Any]) -> int:
    """What the server serves this user with these attributes now: the variant index of a
    decision when the experiment is running and the user is in it, else -1 (the fallback)."""
    if config.status != "running":
        return -1
    decision = decide_rule(
        config.plan, config.matches, user_id, {**attributes, HASH_ATTRIBUTE: user_id}
    )
    return decision.index


def record_batch(
    session: Session,
    assigner: Assigner,
    workspace: Workspace,
    raw: list[Any] | list[ExposureIn],
    *,
    now: datetime | None = None,
) -> ExposureBatchResult:
    """Validate each exposure on its own (those ``parse_batch`` validated are kept), store the
    valid ones (first exposure wins)."""
    now = now or utcnow()
    context = {"now": now}
    valid: list[tuple[int, ExposureIn]] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(raw):
        if type(item) is ExposureIn:  # validated by ``parse_batch``
            valid.append((index, item))
            continue
        try:
            valid.append((index, ExposureIn.model_validate(item, context=context)))
        except ValidationError as exc:
            rejected.append(rejection(index, exc))
    configs = _configs(session, assigner, workspace, {item.experiment_key for _, item in valid})
    rows: list[dict[str, Any]] = []
    seen: set[tuple[int, int, str]] = set()
    duplicates = 0
    decided = 0.0  # seconds spent deciding as the server would (see DECISION_BUDGET)
    for index, item in valid:
        found = configs.get(item.experiment_key)
        if found is None or found[0].status not in RECORDED_STATUSES:
            # Drafts and cancelled experiments are served to no SDK: not found, as for any
            # experiment the payload never named (a public key learns nothing more).
            rejected.append(_refused(index, "experiment_key", "Experiment not found"))
            continue
        config, started = found
        if item.phase is not None and item.phase != str(config.bucket_version):
            rejected.append(
                _refused(
                    index,
                    "phase",
                    f"bucket version {item.phase} is over (now {config.bucket_version}): "
                    "the SDK's payload is stale",
                )
            )
            continue
        shown = _shown_index(config, item)
        if isinstance(shown, str):
            loc = "variant_key" if item.variant_key is not None else "variation_id"
            rejected.append(_refused(index, loc, shown))
            continue
        key = (config.experiment_id, config.bucket_version, item.user_id)
        if key in seen:
            duplicates += 1  # the same user twice in one batch: the first one counts
            continue
        seen.add(key)
        if decided < DECISION_BUDGET:
            clock = time.perf_counter()
            expected = server_index(config, item.user_id, item.attributes)
            decided += time.perf_counter() - clock
        else:
            # Past the budget (a pathological targeting regex): recorded as shown, unchecked.
            expected = shown
        disagrees = (expected if expected >= 0 else config.fallback_index) != shown or (
            expected < 0 and config.status == "running"
        )
        context_of: dict[str, Any] = {"source": "sdk"}
        if item.exposure_id is not None:
            context_of["exposure_id"] = item.exposure_id
        if disagrees:
            context_of["server_variant"] = config.variant_keys[expected] if expected >= 0 else None
        shown_at = item.timestamp if item.timestamp is not None and item.timestamp < now else now
        if started is not None and shown_at < started:
            # Never before the experiment started: earlier events would count as after it.
            shown_at = started
        rows.append(
            {
                "workspace_id": workspace.id,
                "experiment_id": config.experiment_id,
                "variant_id": config.variant_ids[shown],
                "user_id": item.user_id,
                "bucket_version": config.bucket_version,
                "is_override": False,
                "context": context_of,
                "disagrees": disagrees,
                "exposed_at": shown_at,
            }
        )
    # Users in a stable order: the exclusive user locks of concurrent batches never deadlock.
    rows.sort(key=lambda r: (r["workspace_id"], r["user_id"]))
    accepted = repository.insert_exposures(session, rows)
    duplicates += len(rows) - accepted
    rejected.sort(key=lambda r: r.index)
    return ExposureBatchResult(
        received=len(raw),
        accepted=accepted,
        duplicates=duplicates,
        rejected=rejected,
    )
