"""Vocabulary of the experiment domain: statuses, transitions, and the words each dialect uses."""

from __future__ import annotations

from enum import StrEnum


class ExperimentStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (ExperimentStatus.COMPLETED, ExperimentStatus.CANCELLED)


S = ExperimentStatus

#: The lifecycle: draft → running ⇄ paused → completed, cancelled from any non-final state.
TRANSITIONS: dict[ExperimentStatus, frozenset[ExperimentStatus]] = {
    S.DRAFT: frozenset({S.RUNNING, S.CANCELLED}),
    S.RUNNING: frozenset({S.PAUSED, S.COMPLETED, S.CANCELLED}),
    S.PAUSED: frozenset({S.RUNNING, S.COMPLETED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}

#: Lifecycle event action recorded for each (from, to) move.
ACTIONS: dict[tuple[ExperimentStatus, ExperimentStatus], str] = {
    (S.DRAFT, S.RUNNING): "started",
    (S.PAUSED, S.RUNNING): "resumed",
    (S.RUNNING, S.PAUSED): "paused",
    (S.RUNNING, S.COMPLETED): "completed",
    (S.PAUSED, S.COMPLETED): "completed",
}


class LegacyStatus(StrEnum):
    """Seed 003's three words: ``inactive`` is draft or paused, ``active`` is running."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    COMPLETED = "completed"


def to_legacy(status: ExperimentStatus) -> str:
    if status is S.RUNNING:
        return LegacyStatus.ACTIVE.value
    if status in (S.DRAFT, S.PAUSED):
        return LegacyStatus.INACTIVE.value
    # cancelled has no seed-003 word; say it as it is rather than pretend it completed.
    return status.value


def legacy_statuses(word: LegacyStatus) -> list[ExperimentStatus]:
    return {
        LegacyStatus.ACTIVE: [S.RUNNING],
        LegacyStatus.INACTIVE: [S.DRAFT, S.PAUSED],
        LegacyStatus.COMPLETED: [S.COMPLETED],
    }[word]


_WORDS: dict[str, ExperimentStatus] = {
    **{s.value: s for s in ExperimentStatus},
    "active": S.RUNNING,
    "inactive": S.PAUSED,
    "stopped": S.COMPLETED,
    "canceled": S.CANCELLED,
}


def parse_status(word: str) -> ExperimentStatus | None:
    """Any dialect's status word, in any case (seed 001 sends ``ACTIVE``); None if unknown."""
    return _WORDS.get(word.strip().lower())


def resolve_inactive(current: ExperimentStatus) -> ExperimentStatus:
    """``inactive`` asked of an experiment: a draft stays a draft, anything else pauses."""
    return S.DRAFT if current is S.DRAFT else S.PAUSED


def target_status(word: str, current: ExperimentStatus) -> ExperimentStatus | None:
    """Where a status word asked of an experiment in ``current`` takes it, in any dialect
    (``inactive``: a draft stays a draft, anything else pauses); None if the word is unknown."""
    if word.strip().lower() == LegacyStatus.INACTIVE:
        return resolve_inactive(current)
    return parse_status(word)
